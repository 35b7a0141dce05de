import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Writes `multipart/related` response bodies part by part (PS3.18 §8.6.1.2), streaming file
/// contents in large blocks so that a study of any size passes through bounded memory.
struct MultipartResponse {
    let boundary = "MiniVNA-\(UUID().uuidString)"

    func contentType(type: String, transferSyntax: String? = nil) -> String {
        var value = "multipart/related; type=\"\(type)\"; boundary=\(boundary)"
        if let transferSyntax { value += "; transfer-syntax=\(transferSyntax)" }
        return value
    }

    /// The delimiter and headers that open a part.
    func partHeader(contentType: String, length: Int?, location: String? = nil, contentRange: String? = nil) -> ByteBuffer {
        var text = "--\(boundary)\r\nContent-Type: \(contentType)\r\n"
        if let length { text += "Content-Length: \(length)\r\n" }
        if let location { text += "Content-Location: \(location)\r\n" }
        if let contentRange { text += "Content-Range: \(contentRange)\r\n" }
        return ByteBuffer(string: text + "\r\n")
    }

    /// Ends a part.
    static let partEnd = ByteBuffer(string: "\r\n")

    var closeDelimiter: ByteBuffer { ByteBuffer(string: "--\(boundary)--\r\n") }

    /// A whole multipart body from parts already in memory.
    func body(_ parts: [(contentType: String, bytes: [UInt8])]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for part in parts {
            var header = partHeader(contentType: part.contentType, length: part.bytes.count)
            buffer.writeBuffer(&header)
            buffer.writeBytes(part.bytes)
            buffer.writeString("\r\n")
        }
        var close = closeDelimiter
        buffer.writeBuffer(&close)
        return buffer
    }
}

/// Reads files into the response in blocks, without loading them.
enum FileStreamer {
    static let blockSize = 1 << 20

    /// Writes `range` of the file (the whole file when nil) to the response.
    static func stream(_ url: URL, range: Range<Int>? = nil, to writer: inout any ResponseBodyWriter) async throws {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DICOMwebError(.serverError, "cannot open a stored file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var offset = range?.lowerBound ?? 0
        let end: Int
        if let range {
            end = range.upperBound
        } else {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw DICOMwebError(.serverError, "cannot stat a stored file") }
            end = Int(info.st_size)
        }
        while offset < end {
            let count = min(blockSize, end - offset)
            var buffer = ByteBuffer()
            buffer.reserveCapacity(count)
            let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer -> Int in
                let n = pread(fd, pointer.baseAddress, count, off_t(offset))
                guard n > 0 else {
                    throw DICOMwebError(.serverError, "a stored file ended early or could not be read")
                }
                return n
            }
            offset += read
            try await writer.write(buffer)
        }
    }
}

/// A stored file opened when a request is answered, so that a DELETE or a replacement that
/// happens while the response streams cannot change or remove what it reads: everything is read
/// through `path` (`/dev/fd/N`, the same open file) until the response is done with it.
final class OpenFile: Sendable {
    let fd: Int32

    init(_ url: URL) throws {
        fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DICOMwebError(.notFound, "the stored file is gone (deleted meanwhile)") }
    }

    var path: String { "/dev/fd/\(fd)" }
    var url: URL { URL(fileURLWithPath: path) }

    deinit { close(fd) }
}
