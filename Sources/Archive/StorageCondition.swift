import Foundation
import Glibc

/// Whether the data folder takes writes now: what the server says when storing fails (503 for
/// a read-only volume, 507 for a full one) and what `/health/ready` reports. Probed, not
/// remembered, so a volume that becomes writable again is used at once.
public enum StorageCondition: Sendable, Equatable {
    case writable
    /// No space left (ENOSPC, or no free blocks).
    case full
    /// The volume or the folder refuses writes (read-only mount, immutable files, permissions).
    case readOnly(String)
}

extension Archive {
    /// Probes the data folder: free space, a read-only mount, and a small file created and removed.
    public func storageCondition() -> StorageCondition {
        let folder = configuration.dataDirectory.path
        var stats = statvfs()
        if statvfs(folder, &stats) == 0 {
            if stats.f_flag & UInt(ST_RDONLY) != 0 { return .readOnly("the file system is mounted read-only") }
            if stats.f_bavail == 0 { return .full }
        }
        let probe = folder + "/.probe-\(UUID().uuidString)"
        let fd = open(probe, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        guard fd >= 0 else {
            let code = errno
            return code == ENOSPC || code == EDQUOT ? .full : .readOnly(String(cString: strerror(code)))
        }
        let written = Glibc.write(fd, "probe", 5)
        let code = errno
        Glibc.close(fd)
        unlink(probe)
        if written != 5 { return code == ENOSPC || code == EDQUOT ? .full : .readOnly(String(cString: strerror(code))) }
        return .writable
    }
}
