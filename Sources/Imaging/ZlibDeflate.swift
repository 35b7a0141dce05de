import CZlib
import DICOM

/// zlib raw deflate (RFC 1951, no header) for the Deflated Explicit VR Little Endian transfer syntax.
public struct ZlibDeflate: DeflateDecoding, DeflateEncoding {
    /// Refuse to inflate beyond this many bytes (a zip-bomb guard; 4 GiB by default).
    public var maximumInflatedSize: Int

    public init(maximumInflatedSize: Int = 4 << 30) {
        self.maximumInflatedSize = maximumInflatedSize
    }

    public func inflate(_ compressed: UnsafeRawBufferPointer) throws -> [UInt8] {
        var stream = z_stream()
        guard minivna_inflateInit2(&stream, -MAX_WBITS) == Z_OK else {
            throw CodecError(.zlib, "inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(max(compressed.count * 4, 4096))
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        let input = compressed.bindMemory(to: Bytef.self)
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
        stream.avail_in = uInt(compressed.count)
        while true {
            let status: Int32 = chunk.withUnsafeMutableBufferPointer { out in
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                return CZlib.inflate(&stream, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(stream.avail_out)
            output.append(contentsOf: chunk[0..<produced])
            guard output.count <= maximumInflatedSize else {
                throw CodecError(.zlib, "inflated data exceeds \(maximumInflatedSize) bytes")
            }
            if status == Z_STREAM_END { break }
            if status == Z_BUF_ERROR && stream.avail_in == 0 {
                // Input ended without Z_STREAM_END: some encoders omit the final block marker.
                break
            }
            guard status == Z_OK else {
                throw CodecError(.zlib, "inflate failed (zlib status \(status)) at input byte \(compressed.count - Int(stream.avail_in))")
            }
        }
        return output
    }

    public func deflate(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        try compress(bytes, windowBits: -MAX_WBITS)
    }

    /// A zlib stream (RFC 1950: header and Adler-32 around the deflate data), as PNG's IDAT needs.
    public func zlibStream(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        try compress(bytes, windowBits: MAX_WBITS)
    }

    private func compress(_ bytes: UnsafeRawBufferPointer, windowBits: Int32) throws -> [UInt8] {
        var stream = z_stream()
        guard minivna_deflateInit2(&stream, Z_DEFAULT_COMPRESSION, windowBits) == Z_OK else {
            throw CodecError(.zlib, "deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        let input = bytes.bindMemory(to: Bytef.self)
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
        stream.avail_in = uInt(bytes.count)
        while true {
            let status: Int32 = chunk.withUnsafeMutableBufferPointer { out in
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                return CZlib.deflate(&stream, Z_FINISH)
            }
            output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
            if status == Z_STREAM_END { break }
            guard status == Z_OK || status == Z_BUF_ERROR else {
                throw CodecError(.zlib, "deflate failed (zlib status \(status))")
            }
        }
        return output
    }
}
