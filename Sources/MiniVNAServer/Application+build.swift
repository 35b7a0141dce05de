import Archive
import Enrichment
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle

/// Every long-running part of a `minivna serve` process, in start order, over one archive that
/// the caller opened and that every front end shares (HTTP now, DIMSE later). A `ServiceGroup`
/// shuts services down in reverse order: the front ends stop first (in-flight requests finish),
/// then the archive closes. A new service goes into this list: an event consumer after
/// `ArchiveService` and before the front ends (it stops once no request adds events, and before
/// the archive closes), another front end (DIMSE) at the end, beside the HTTP application.
public func buildServices(
    _ configuration: ServerConfiguration, archive: Archive, logger: Logger,
    onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) -> [any Service] {
    let access = AccessControl(configuration, archive: archive, logger: logger)
    let enrichment = EnrichmentPipeline.make(configuration, archive: archive, jobTokens: access.jobTokenSource, logger: logger)
    var services: [any Service] = [
        ArchiveService(archive: archive, logger: logger),
        StudyStabilityService(archive: archive, logger: logger),
    ]
    if let enrichment { services.append(EnrichmentService(pipeline: enrichment, logger: logger)) }
    services.append(AccessAuditService(recorder: access.audit, retention: configuration.auditRetention))
    if access.metrics != nil { services.append(ArchiveMetricsSampler(archive: archive, logger: logger)) }
    services.append(buildApplication(configuration, archive: archive, enrichment: enrichment, access: access, logger: logger,
                                     onServerRunning: onServerRunning))
    return services
}

/// The services of `buildServices` in a group that shuts down gracefully on SIGTERM and SIGINT;
/// past `configuration.shutdownGracePeriod` what still runs is cancelled.
public func buildServiceGroup(
    _ configuration: ServerConfiguration, archive: Archive, logger: Logger,
    onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) -> ServiceGroup {
    var group = ServiceGroupConfiguration(
        services: buildServices(configuration, archive: archive, logger: logger, onServerRunning: onServerRunning),
        gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    group.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod
    return ServiceGroup(configuration: group)
}

/// The MiniVNA HTTP application over `archive`: every route and middleware (`buildRouter`) on
/// an HTTP/1.1 server whose `Expect: 100-continue` answers wait for the route's decision.
/// - Parameter onServerRunning: called with `http://HOST:PORT` (`https` with TLS) once the port is bound.
public func buildApplication(
    _ configuration: ServerConfiguration, archive: Archive, enrichment: EnrichmentPipeline? = nil, access: AccessControl? = nil,
    logger: Logger, onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let counter = ClientConnectionCounter()
    let http1 = HTTPServerBuilder.http1(configuration: .init(
        additionalChannelHandlers: [ConnectionGuard(limits: configuration.connectionLimits, counter: counter), ExpectContinueHandler()],
        idleTimeout: TimeAmount(configuration.connectionLimits.idleTimeout)))
    // HTTPS when configured (the certificate and key were read and paired when the configuration
    // was made); never plain HTTP in its place.
    let server: HTTPServerBuilder
    if let tls = configuration.tls {
        do { server = try .tls(http1, tlsConfiguration: tls) } catch { fatalError("TLS configuration refused: \(error)") }
    } else {
        server = http1
    }
    return Application(
        router: buildRouter(configuration, archive: archive, enrichment: enrichment, access: access, logger: logger),
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "MiniVNA"),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            configuration.listening.port = port
            await onServerRunning("\(configuration.scheme)://\(configuration.host):\(port)")
        },
        logger: logger
    )
}

/// Every route and middleware, the one wiring `buildApplication` serves and route tests call
/// in-process. `/ai` is there when enrichment is on. Access control and the access audit wrap
/// every route (`access`: made from the configuration when not given).
public func buildRouter(_ configuration: ServerConfiguration, archive: Archive, enrichment: EnrichmentPipeline? = nil,
                        access: AccessControl? = nil, logger: Logger) -> Router<AppRequestContext> {
    let access = access ?? AccessControl(configuration, archive: archive, logger: logger)
    let router = Router(context: AppRequestContext.self)
    // Middleware order matters: the first added is the outermost. Errors become responses
    // innermost, so CORS headers are added to error responses too (CORSMiddleware wraps thrown
    // errors otherwise); the origin filter is outermost so it sees what CORS added.
    // Request counts and durations per route pattern, method and status (`/metrics`).
    if access.metrics != nil { router.add(middleware: MetricsMiddleware()) }
    let origins = configuration.corsAllowedOrigins
    if origins != ["*"] {
        router.add(middleware: AllowedOriginsMiddleware(origins: Set(origins)))
    }
    router.add(middleware: CORSMiddleware(
        allowOrigin: origins == ["*"] ? .all : .originBased,
        allowHeaders: [.accept, .authorization, .contentType, .origin, .ifMatch, .ifNoneMatch, .prefer, .init("X-Requested-With")!],
        allowMethods: [.get, .post, .put, .delete, .options, .head],
        exposedHeaders: ["Warning", "Content-Type", "Content-Length", "Location", "ETag", "Content-Range", "Content-Location",
                         "Last-Modified"]
    ))
    // The audit sees every final status (errors are responses by then) and who the access
    // control found; access control runs before any route.
    router.add(middleware: AccessAuditMiddleware(recorder: access.audit, permissions: access.permissions))
    router.add(middleware: DICOMwebErrorMiddleware(archive: archive))
    router.add(middleware: AccessControlMiddleware(authenticator: access.authenticator, permissions: access.permissions))
    OperationsRoutes(archive: archive, configuration: configuration, metrics: access.metrics).register(on: router)
    AuditRoutes(archive: archive).register(on: router)
    let dicomWeb = router.group(RouterPath(configuration.dicomWebPath))
    STOWRoutes(archive: archive, configuration: configuration).register(on: dicomWeb)
    QIDORoutes(archive: archive, configuration: configuration).register(on: dicomWeb)
    WADORoutes(archive: archive, configuration: configuration).register(on: dicomWeb)
    FrameRoutes(archive: archive, configuration: configuration).register(on: dicomWeb)
    RenderedRoutes(archive: archive, configuration: configuration,
                   cache: RenderedImageCache(budget: configuration.renderedImageCacheBytes)).register(on: dicomWeb)
    DeleteRoutes(archive: archive, configuration: configuration).register(on: dicomWeb)
    FHIRRoutes(service: FHIRService(archive: archive), configuration: configuration, logger: logger).register(on: router.group("fhir"))
    if let enrichment { AIRoutes(pipeline: enrichment, configuration: configuration).register(on: router.group("ai")) }
    return router
}

/// The parts of access control one server shares between its routes and its services: the
/// authenticator (nil with authentication off), the route → permission table, the access-audit
/// recorder, and the issuer of inference services' job tokens.
public struct AccessControl: Sendable {
    let authenticator: Authenticator?
    let permissions: RoutePermissions
    public let audit: AccessAuditRecorder
    let jobTokens: JobTokenIssuer
    /// The Prometheus exporter, when the configuration asks for metrics.
    let metrics: ServerMetrics?

    public init(_ configuration: ServerConfiguration, archive: Archive, logger: Logger) {
        jobTokens = JobTokenIssuer()
        metrics = configuration.metricsEnabled ? ServerMetrics.shared : nil
        authenticator = configuration.security.isEnabled ? Authenticator(configuration.security, jobTokens: jobTokens) : nil
        permissions = RoutePermissions(dicomWebPath: configuration.dicomWebPath)
        audit = AccessAuditRecorder(archive: archive, logger: logger)
    }

    /// What an external inference service's job carries as its access token: a job token for
    /// the study when authentication is on (nil when it is off: nothing to present).
    var jobTokenSource: @Sendable (_ study: String, _ service: String, _ lifetime: Duration) async -> String? {
        guard authenticator != nil else { return { _, _, _ in nil } }
        let issuer = jobTokens
        return { study, service, lifetime in await issuer.issue(study: study, service: service, lifetime: lifetime) }
    }
}

/// With a configured origin list, a browser request from another origin gets no CORS headers
/// (CORSMiddleware's originBased mode echoes any origin; this takes them off for strangers).
struct AllowedOriginsMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if let origin = request.headers[.origin], !origins.contains(origin) {
            response.headers[.accessControlAllowOrigin] = nil
        }
        return response
    }
}
