import Foundation

/// A file's bytes for parsing: small files are read with one read(2) (cheaper than setting up and
/// tearing down a mapping), large ones are memory-mapped so header-only reads touch only the
/// header's pages. Foundation's mapped `Data` adds xattr and stat calls that dominated the header
/// benchmark, hence POSIX calls (through Foundation's re-export).
final class MappedFile {
    /// Files up to this size are read, not mapped.
    static let readThreshold = 256 * 1024

    let pointer: UnsafeRawPointer?
    let count: Int
    private let isMapped: Bool

    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DICOMParseError(.io, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw DICOMParseError(.io, "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw DICOMParseError(.io, "\(path) is not a regular file")
        }
        count = Int(info.st_size)
        if count == 0 {
            pointer = nil
            isMapped = false
            return
        }
        if count <= Self.readThreshold {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16)
            var done = 0
            while done < count {
                let n = read(fd, buffer + done, count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    buffer.deallocate()
                    throw DICOMParseError(.io, "cannot read \(path): \(n == 0 ? "file shrank while reading" : String(cString: strerror(errno)))")
                }
                done += n
            }
            pointer = UnsafeRawPointer(buffer)
            isMapped = false
            return
        }
        isMapped = true
        let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw DICOMParseError(.io, "cannot map \(path): \(String(cString: strerror(errno)))")
        }
        pointer = UnsafeRawPointer(mapped)
    }

    deinit {
        guard let pointer else { return }
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: pointer), count)
        } else {
            pointer.deallocate()
        }
    }

    /// The mapped bytes; valid only inside `body`.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
