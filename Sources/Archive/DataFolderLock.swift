import Foundation

/// An exclusive `flock(2)` on `lock` in the data folder, held for as long as an `Archive` is open.
/// Opening an archive recovers interrupted ingests: it removes files moved into place whose rows
/// are not committed, and every upload in `tmp/`. In a second process on a live folder (a
/// `verify` or `import` while `serve` runs), that would delete the files of instances the
/// server is about to acknowledge. So one process at a time; the kernel releases the lock when
/// the process ends, however it ends.
final class DataFolderLock: Sendable {
    private let fd: Int32

    init(directory: URL) throws {
        let path = directory.appendingPathComponent("lock").path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ArchiveError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno == EWOULDBLOCK
                ? "the data folder \(directory.path) is in use by another MiniVNA process (serve, import, reindex or verify): "
                    + "stop it first"
                : "cannot lock \(path): \(String(cString: strerror(errno)))"
            close(fd)
            throw ArchiveError(.storage, reason)
        }
    }

    deinit { close(fd) }
}
