import Foundation

/// A read-only memory map of a whole file: header-only reads touch only the header's pages,
/// and opening costs open + fstat + mmap (Foundation's mapped `Data` adds xattr and stat calls
/// that dominated the header benchmark). POSIX calls come through Foundation's re-export.
final class MappedFile {
    let pointer: UnsafeRawPointer?
    let count: Int

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
            return
        }
        let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw DICOMParseError(.io, "cannot map \(path): \(String(cString: strerror(errno)))")
        }
        pointer = UnsafeRawPointer(mapped)
    }

    deinit {
        if let pointer { munmap(UnsafeMutableRawPointer(mutating: pointer), count) }
    }

    /// The mapped bytes; valid only inside `body`.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
