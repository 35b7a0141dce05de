import Foundation

/// Crash recovery for ingest without a file per instance.
///
/// An ingest moves each file into `files/` inside its index transaction, before the commit (so a
/// committed row always has its file). A crash between the rename and the commit leaves a file
/// that was never acknowledged. Before each rename, its relative path is appended to this
/// journal; each index transaction first appends a `#` line. After a crash only the paths after
/// the last `#` can belong to a transaction that did not commit, so recovery checks just those.
///
/// Why one append-only file: creating and deleting a marker file per instance made ext4 inode
/// allocation (`recently_deleted`) the largest cost of a small STOW request. Appends need no
/// fsync for the guarantee this gives (an acknowledged instance survives the process being
/// killed): the page cache outlives the process.
///
/// Used only inside the index's serialized write transactions (GRDB runs one at a time), so
/// writes never interleave; `beginTransaction` restarts the file there too, when no earlier transaction is
/// still open.
final class IngestJournal: @unchecked Sendable {
    static let transactionMarker = "#"
    /// Ends a transaction's section once it committed (a path never is `=`).
    static let committedMarker = "="
    /// Past this size the journal restarts empty at the next transaction.
    static let truncationThreshold = 64 * 1024

    let url: URL
    private let fd: Int32

    init(url: URL) throws {
        self.url = url
        fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ArchiveError(.storage, "cannot open \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Starts a transaction's section (restarting the file when it has grown large).
    func beginTransaction() throws {
        var info = stat()
        if fstat(fd, &info) == 0, Int(info.st_size) > Self.truncationThreshold {
            guard ftruncate(fd, 0) == 0 else { throw ArchiveError(.storage, "cannot truncate \(url.path)") }
        }
        try append(Self.transactionMarker)
    }

    /// Records that `relativePath` is about to be moved into place.
    func willMove(relativePath: String) throws {
        try append(relativePath)
    }

    /// Records that the transaction committed: start-up recovery leaves its files alone even
    /// when they have no row (the index was deleted to be rebuilt by `reindex`). Not synced: after
    /// a power cut without it, recovery checks the section's files against the rows as before.
    func committed() {
        try? append(Self.committedMarker)
    }

    /// Empties the journal (after recovery).
    func reset() throws {
        guard ftruncate(fd, 0) == 0 else { throw ArchiveError(.storage, "cannot truncate \(url.path)") }
    }

    /// The paths the last transaction recorded (the only ones a crash can have left uncommitted);
    /// none when it is marked committed.
    static func pathsOfLastTransaction(at url: URL) -> [String] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let start = (lines.lastIndex(of: Substring(transactionMarker)).map { $0 + 1 }) ?? 0
        if lines[start...].last == Substring(committedMarker) { return [] }
        return lines[start...].map(String.init)
    }

    private func append(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw ArchiveError(.storage, "cannot append to \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}
