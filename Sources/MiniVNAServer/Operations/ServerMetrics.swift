import Archive
import Foundation
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

/// MiniVNA's metrics in Prometheus text format at `/metrics`: swift-metrics as the API (the
/// routes, the STOW path and the AI pipeline record through it), swift-prometheus as the one
/// backend, bootstrapped once per process by `serve`. Metric names use underscores (Prometheus
/// has no dots): Hummingbird's `http.server.request.duration` is `http_server_request_duration`.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    private init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// The process's one instance: swift-metrics allows one bootstrap per process, made at the
    /// first use (a server whose configuration enables metrics).
    public static let shared: ServerMetrics = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (sanitize(name), labels.map { (sanitize($0.0), $0.1) })
        }
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        MetricsSystem.bootstrap(factory)
        return ServerMetrics(registry: registry)
    }()

    static func sanitize(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
    }

    func exposition() -> ByteBuffer {
        ByteBuffer(bytes: registry.emitToBuffer())
    }
}

/// Samples what no request records, every few seconds: the archive's counts, the AI queue's
/// depth, and the lag of the event log's consumers (events written but not yet handled).
struct ArchiveMetricsSampler: Service {
    let archive: Archive
    let logger: Logger
    var interval: Duration = .seconds(5)

    func run() async throws {
        let studies = Gauge(label: "minivna_studies"), series = Gauge(label: "minivna_series"), instances = Gauge(label: "minivna_instances")
        let queued = Gauge(label: "minivna_ai_jobs", dimensions: [("state", "queued")])
        let running = Gauge(label: "minivna_ai_jobs", dimensions: [("state", "running")])
        let lag = Gauge(label: "minivna_event_consumer_lag", dimensions: [("consumer", "ai")])
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let counts = try archive.counts()
                    studies.record(counts.studies)
                    series.record(counts.series)
                    instances.record(counts.instances)
                    let depth = try await archive.analysisQueueDepth()
                    queued.record(depth.queued)
                    running.record(depth.running)
                    let latest = try archive.events.latestSequence()
                    lag.record(latest - (try archive.events.cursor(of: "ai")))
                } catch {
                    logger.debug("metrics sampling: \(error)")
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}
