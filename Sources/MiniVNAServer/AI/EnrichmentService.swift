import Archive
import Enrichment
import Foundation
import Logging
import ServiceLifecycle

/// The AI pipeline as a service of `minivna serve`: consumes `study.stable`, runs the workers,
/// stops at graceful shutdown (jobs in flight stay `running` and are queued again at the next
/// start; their results' UIDs are fixed by their keys, so the replay rewrites the same objects).
public struct EnrichmentService: Service, CustomStringConvertible {
    let pipeline: EnrichmentPipeline
    let logger: Logger

    public init(pipeline: EnrichmentPipeline, logger: Logger) {
        self.pipeline = pipeline
        self.logger = logger
    }

    public var description: String { "EnrichmentService" }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await pipeline.run()
                } catch {
                    if Task.isCancelled { return }
                    logger.error("AI pipeline failed, restarting in 5 s: \(error)")
                    try? await Task.sleep(for: .seconds(5))
                }
            }
        }
    }
}

extension EnrichmentPipeline {
    /// The pipeline `configuration` describes: the built-in analyzers asked for and the
    /// external services, each with its own circuit breaker.
    /// - Parameter jobTokens: the access token an external service's job carries (study, service, lifetime).
    public static func make(_ configuration: ServerConfiguration, archive: Archive,
                            jobTokens: @escaping @Sendable (String, String, Duration) async -> String? = { _, _, _ in nil },
                            logger: Logger) -> EnrichmentPipeline? {
        let settings = configuration.enrichment
        guard settings.enabled else { return nil }
        let callbacks = PendingCallbacks()
        var analyzers: [any Analyzer] = settings.builtIns.map { builtIn -> any Analyzer in
            switch builtIn {
            case .imageQuality: ImageQualityAnalyzer(limits: settings.imageQualityLimits)
            case .ctDose: DoseAnalyzer(referenceLevels: settings.referenceLevels)
            case .dataQuality: DataQualityAnalyzer()
            }
        }
        for service in settings.services {
            let requestTimeout = min(service.requestTimeout, settings.attemptTimeout)
            let callbackTimeout = min(service.callbackTimeout, settings.attemptTimeout)
            let name = "\(service.name)@\(service.version)"
            analyzers.append(ExternalServiceAnalyzer(
                identity: AnalyzerIdentity(name: service.name, version: service.version, manufacturer: "external service",
                                           description: "External inference service at \(service.url)"),
                selector: service.selector, url: service.url, transport: HTTPInferenceTransport(), callbacks: callbacks,
                // A late answer must come within the attempt's time limit, which would cancel the wait anyway.
                requestTimeout: requestTimeout, callbackTimeout: callbackTimeout,
                // Valid while the job can still read: its request, then its late answer.
                token: { study in await jobTokens(study, name, requestTimeout + callbackTimeout) }))
        }
        return EnrichmentPipeline(archive: archive, configuration: .init(
            analyzers: analyzers, concurrency: settings.concurrency, maximumAttempts: settings.maximumAttempts,
            retryBase: settings.retryBaseSeconds, attemptTimeout: settings.attemptTimeout,
            publicOrigin: { configuration.internalOrigin }), logger: logger, callbacks: callbacks)
    }
}
