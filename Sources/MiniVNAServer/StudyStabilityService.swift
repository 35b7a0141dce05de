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

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await archive.monitorStudyStability() }
        } catch is CancellationError {
            return
        } catch {
            // A failing monitor must not take the archive down: stable studies wait for the
            // next start (they are durable), and the failure is logged.
            logger.error("study stability monitor stopped: \(error)")
        }
    }
}
