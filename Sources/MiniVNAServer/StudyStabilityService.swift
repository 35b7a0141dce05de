import Archive
import Logging
import ServiceLifecycle

/// Emits `study.stable` events while the server runs (see `Archive.monitorStudyStability`);
/// stops at graceful shutdown. What it has not emitted yet is durable: the next start finds it.
public struct StudyStabilityService: Service, CustomStringConvertible {
    let archive: Archive
    let logger: Logger

    public init(archive: Archive, logger: Logger) {
        self.archive = archive
        self.logger = logger
    }

    public var description: String { "StudyStabilityService" }

    /// Returns only at graceful shutdown: a service that returns earlier would stop the whole
    /// server (the group's default). A failing round (a full disk, say) is logged and retried;
    /// the studies keep waiting meanwhile, durably.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await archive.monitorStudyStability()
                } catch {
                    if Task.isCancelled { return }
                    logger.error("study stability monitor failed, retrying in 5 s: \(error)")
                    try? await Task.sleep(for: .seconds(5))
                }
            }
        }
    }
}
