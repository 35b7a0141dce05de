import Archive
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import Imaging
import Logging
import NIOCore

/// Builds the MiniVNA HTTP application: the archive, DICOMweb routes, CORS and error mapping.
/// `minivna serve` runs it; tests call it too (in-process with HummingbirdTesting).
public func buildApplication(
    _ configuration: ServerConfiguration, logger: Logger = Logger(label: "minivna"),
    onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let archive = try Archive(configuration: configuration.archiveConfiguration)
    let router = buildRouter(configuration, archive: archive)
    return Application(
        router: router,
        server: .http1(configuration: .init(additionalChannelHandlers: [ExpectContinueHandler()])),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "MiniVNA"),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            configuration.listening.port = port
            await onServerRunning("http://\(configuration.host):\(port)")
        },
        logger: logger
    )
}

/// The router alone, for in-process route tests.
public func buildRouter(_ configuration: ServerConfiguration, archive: Archive) -> Router<BasicRequestContext> {
    let router = Router()
    // Middleware order matters: the first added is the outermost. Errors become responses
    // innermost, so CORS headers are added to error responses too (CORSMiddleware wraps thrown
    // errors otherwise); the origin filter is outermost so it sees what CORS added.
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
    router.add(middleware: DICOMwebErrorMiddleware())
    STOWRoutes(archive: archive, configuration: configuration).register(on: router)
    QIDORoutes(archive: archive, configuration: configuration).register(on: router)
    WADORoutes(archive: archive, configuration: configuration).register(on: router)
    FrameRoutes(archive: archive, configuration: configuration).register(on: router)
    RenderedRoutes(archive: archive, configuration: configuration,
                   cache: RenderedImageCache(budget: configuration.renderedImageCacheBytes)).register(on: router)
    DeleteRoutes(archive: archive, configuration: configuration).register(on: router)
    FHIRRoutes(service: FHIRService(archive: archive), configuration: configuration).register(on: router)
    return router
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
