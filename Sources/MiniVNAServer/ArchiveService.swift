import Archive
import Logging
import ServiceLifecycle

/// The archive's part in the process lifecycle: it runs until graceful shutdown reaches it,
/// then closes the archive (the index checkpoints and closes, the data folder lock is
/// released). `buildServices` puts it before the front ends, and a `ServiceGroup` shuts down in
/// reverse order, so by then every front end has stopped and no request uses the archive.
public struct ArchiveService: Service, CustomStringConvertible {
    let archive: Archive
    let logger: Logger

    public init(archive: Archive, logger: Logger) {
        self.archive = archive
        self.logger = logger
    }

    public var description: String { "ArchiveService" }

    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            // Cancelled (the grace period ran out, or a service failed): requests may still be
            // using the archive, so it stays open; the process ends next, which releases the
            // lock, and SQLite's WAL needs no close to keep what was committed.
            logger.warning("archive left open: the services were cancelled before a graceful shutdown")
            return
        }
        try archive.close()
        logger.info("archive closed")
    }
}
