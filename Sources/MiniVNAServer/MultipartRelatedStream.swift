import Archive
import Foundation
import MultipartKit
import NIOCore

/// Streams a `multipart/related` body part by part into temporary files in the archive's own
/// `tmp/` folder, so memory stays bounded whatever the upload size. Framing is checked as it
/// goes: a body whose boundary never occurs, that has no part, or whose close delimiter is
/// missing is rejected as a whole (nothing is stored from it).
final class MultipartRelatedStream {
    struct Part {
        var contentType: String?
        var file: URL
        var size: Int
        var crc32: UInt32
    }

    private let parser: MultipartParser
    private let store: FileBlobStore
    private let closeDelimiter: [UInt8]
    private var closeMatch = 0
    private(set) var closed = false
    private(set) var parts: [Part] = []
    private var currentHeaders: [String: String] = [:]
    private var currentFile: (url: URL, fd: Int32, size: Int, crc32: UInt32)?
    private var failure: ArchiveError?
    private var pending: [UInt8] = []
    private static let writeBlockSize = 256 * 1024

    init(boundary: String, store: FileBlobStore) {
        parser = MultipartParser(boundary: boundary)
        self.store = store
        // The close delimiter can only appear where the body ends (RFC 2046 §5.1.1).
        closeDelimiter = Array("\r\n--\(boundary)--".utf8)
        parser.onHeader = { [unowned self] name, value in currentHeaders[name.lowercased()] = value }
        parser.onBody = { [unowned self] buffer in write(buffer) }
        parser.onPartComplete = { [unowned self] in completePart() }
    }

    deinit {
        if let currentFile { close(currentFile.fd); unlink(currentFile.url.path) }
    }

    func feed(_ buffer: ByteBuffer) throws {
        buffer.withUnsafeReadableBytes { scanForCloseDelimiter($0) }
        do {
            try parser.execute(buffer)
        } catch {
            throw DICOMwebError(.badRequest, "the multipart body is malformed (part headers or boundary)")
        }
        if let failure { throw failure }
    }

    /// Checks the framing once the whole body has arrived.
    func finish(boundary: String) throws(DICOMwebError) {
        guard !parts.isEmpty || currentFile != nil else {
            throw DICOMwebError(.badRequest, "the body has no part delimited by the boundary \"\(boundary)\"")
        }
        guard closed else {
            throw DICOMwebError(.badRequest, "the multipart body ends without its close delimiter \"--\(boundary)--\"")
        }
        guard parts.isEmpty == false else {
            throw DICOMwebError(.badRequest, "the multipart body has no complete part")
        }
    }

    /// Removes every part file not yet handed over.
    func discardParts() {
        for part in parts { unlink(part.file.path) }
        parts.removeAll()
    }

    private func scanForCloseDelimiter(_ bytes: UnsafeRawBufferPointer) {
        guard !closed else { return }
        for byte in bytes {
            if byte == closeDelimiter[closeMatch] {
                closeMatch += 1
                if closeMatch == closeDelimiter.count { closed = true; return }
            } else {
                closeMatch = byte == closeDelimiter[0] ? 1 : 0
            }
        }
    }

    private func openPartIfNeeded() {
        guard currentFile == nil, failure == nil else { return }
        let url = store.makeTemporaryURL()
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            failure = ArchiveError(.storage, "cannot create a temporary file: \(String(cString: strerror(errno)))")
            return
        }
        currentFile = (url, fd, 0, 0)
    }

    /// Body bytes are gathered and written in large blocks: the parser hands them over in small
    /// pieces (it stops at every CR that might start a delimiter), and a write() per piece made
    /// system calls the main cost of storing a small instance.
    private func write(_ buffer: ByteBuffer) {
        openPartIfNeeded()
        guard currentFile != nil else { return }
        buffer.withUnsafeReadableBytes { pending.append(contentsOf: $0) }
        if pending.count >= Self.writeBlockSize { flushPending() }
    }

    private func flushPending() {
        guard let file = currentFile, !pending.isEmpty else { return }
        let failed = pending.withUnsafeBytes { buffer -> Bool in
            currentFile?.crc32 = CRC32.checksum(buffer, seed: file.crc32)
            var done = 0
            while done < buffer.count {
                let n = Foundation.write(file.fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return true }
                done += n
            }
            return false
        }
        if failed {
            failure = ArchiveError(.storage, "cannot write a temporary file: \(String(cString: strerror(errno)))")
        } else {
            currentFile?.size += pending.count
        }
        pending.removeAll(keepingCapacity: true)
    }

    private func completePart() {
        openPartIfNeeded()
        flushPending()
        guard let file = currentFile else { return }
        // No fsync here: the archive makes each request's files durable with one barrier.
        close(file.fd)
        parts.append(Part(contentType: currentHeaders["content-type"], file: file.url, size: file.size, crc32: file.crc32))
        currentFile = nil
        currentHeaders = [:]
    }
}
