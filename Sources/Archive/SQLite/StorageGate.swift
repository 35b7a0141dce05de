import CFileSync
import Foundation
import GRDB
import Glibc
import Synchronization

/// Keeps SQLite away from its memory-mapped WAL index (`-shm`) while the database's files take
/// no writes: immutable or append-only (chattr +i / +a) or on a read-only mount. On a file made
/// immutable while it is mapped, the first write to a mapped page kills the process with SIGBUS
/// (ext4 refuses the page fault), and SQLite writes that page to begin a write transaction and,
/// often, a read transaction (its read marks). So every transaction asks first: a write is
/// refused with `ArchiveError(.storage)` (the server answers 503), and a read goes to a
/// connection opened while the files are frozen that keeps the WAL index in its own memory
/// (`unix-none`, exclusive locking), so reads go on. Once the files are writable again,
/// the next transaction uses the pool as before; no restart. The cost is three ioctls and an
/// fstatvfs per transaction, on descriptors kept open. A volume frozen in the middle of a
/// transaction can still fault: the check narrows the window, it cannot close it.
final class StorageGate: Sendable {
    private let descriptors: [Int32]
    private let path: String
    private let name: String
    /// The read-only connection used while frozen, opened at the first read that needs it.
    private let frozenReader = Mutex<DatabaseQueue?>(nil)

    /// - Parameter path: the database file; its `-wal` and `-shm` are watched too.
    init(databasePath path: String) {
        self.path = path
        name = URL(fileURLWithPath: path).lastPathComponent
        descriptors = [path, path + "-wal", path + "-shm"].compactMap { file in
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            return fd >= 0 ? fd : nil
        }
    }

    deinit {
        for fd in descriptors { Glibc.close(fd) }
    }

    /// Why the files take no writes now, or nil when they do.
    var frozen: String? {
        if descriptors.contains(where: { minivna_refuses_writes($0) == 1 }) {
            return "\(name): the database files are immutable or append-only; writes are refused until they are writable"
        }
        var stats = statvfs()
        if let fd = descriptors.first, fstatvfs(fd, &stats) == 0, stats.f_flag & UInt(ST_RDONLY) != 0 {
            return "\(name): the file system is read-only"
        }
        return nil
    }

    /// Before a write transaction.
    func checkWritable() throws {
        if let frozen { throw ArchiveError(.storage, frozen) }
    }

    /// Where a read transaction goes: `pool` normally, the read-only connection while frozen.
    func reader(_ pool: DatabasePool) throws -> any DatabaseReader {
        guard frozen != nil else {
            if frozenReader.withLock({ $0 }) != nil {
                let closing = frozenReader.withLock { reader -> DatabaseQueue? in defer { reader = nil }; return reader }
                try? closing?.close()
            }
            return pool
        }
        return try frozenReader.withLock { reader in
            if let reader { return reader }
            // Not a second connection of SQLite's unix VFS: those share the process's mapping of
            // `-shm` and would write it. `unix-none` has no shared memory and no locks; with
            // exclusive locking SQLite reads the WAL into its own memory instead (nothing writes
            // while the files are frozen, so no lock is needed).
            var configuration = Configuration()
            configuration.readonly = true
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE") }
            let encoded = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
            let queue = try DatabaseQueue(path: "file:\(encoded)?vfs=unix-none&mode=ro", configuration: configuration)
            reader = queue
            return queue
        }
    }
}

/// A store over a database pool behind a `StorageGate`: its write transactions ask the gate first.
protocol GatedStore {
    var pool: DatabasePool { get }
    var gate: StorageGate { get }
}

extension GatedStore {
    /// A write transaction, refused before it starts when the files take no writes.
    func gatedWrite<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try gate.checkWritable()
        return try await pool.write(updates)
    }

    func gatedWriteSync<T>(_ updates: (Database) throws -> T) throws -> T {
        try gate.checkWritable()
        return try pool.write(updates)
    }
}
