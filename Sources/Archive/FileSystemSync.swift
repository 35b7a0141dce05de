import CFileSync
import Foundation
import Synchronization

/// `syncfs(2)` of the file system that holds `files/` (and `tmp/`: renames need both on one),
/// through one descriptor kept open. A write-back error is reported by `syncfs` once, to
/// whichever call comes first, which may not be the one whose files failed; so any failure is
/// remembered and every later barrier fails too: after a write error the archive acknowledges no
/// instance until it is restarted (and, stopped, `minivna verify` run), rather than risk acknowledging one
/// whose data did not reach the disk. Calls are serialized so that a failure is recorded before
/// another call can succeed.
final class FileSystemSync: Sendable {
    private let fd: Int32
    private let directory: String
    private let failure = Mutex<String?>(nil)
    /// `syncfs` itself (tests pass one that fails).
    private let syncCall: @Sendable (Int32) -> Int32

    init(directory: String, syncCall: @escaping @Sendable (Int32) -> Int32 = { syncfs($0) }) throws {
        self.directory = directory
        self.syncCall = syncCall
        fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError(.storage, "cannot open \(directory): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// Makes every later barrier fail with `reason` (kept if a failure is already recorded).
    func refuseFurtherBarriers(because reason: String) {
        failure.withLock { failure in if failure == nil { failure = reason } }
    }

    /// Throws once a `sync` has failed.
    func checkNoEarlierFailure() throws {
        if let failed = failure.withLock({ $0 }) { throw ArchiveError(.storage, failed) }
    }

    func sync() throws {
        let failed = failure.withLock { failure -> String? in
            if failure == nil, syncCall(fd) != 0 {
                failure = "syncfs of \(directory) failed (\(String(cString: strerror(errno)))): no instance is acknowledged "
                    + "until MiniVNA is restarted (check the disk, and with MiniVNA stopped run `minivna verify`)"
            }
            return failure
        }
        if let failed { throw ArchiveError(.storage, failed) }
    }
}
