import CTurboJPEG
import CZlib
import Foundation

/// 8-bit images (grayscale or RGB, interleaved) as PNG or JPEG files for rendered responses.
public struct RenderedImage: Sendable {
    public let width: Int
    public let height: Int
    /// 1 (grayscale) or 3 (RGB).
    public let channels: Int
    public let pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// PNG (ISO/IEC 15948): IHDR, one zlib-compressed IDAT of unfiltered scanlines, IEND.
    public func png() throws -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity((width * channels + 1) * height)
        for row in 0..<height {
            raw.append(0)   // filter type None
            raw.append(contentsOf: pixels[(row * width * channels)..<((row + 1) * width * channels)])
        }
        let compressed = try raw.withUnsafeBytes { try ZlibDeflate().zlibStream($0) }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        Self.appendBigEndian(UInt32(width), to: &header)
        Self.appendBigEndian(UInt32(height), to: &header)
        header += [8, channels == 1 ? 0 : 2, 0, 0, 0]   // 8-bit; grayscale or truecolor; deflate; no filter/interlace
        Self.chunk("IHDR", header, to: &out)
        Self.chunk("IDAT", compressed, to: &out)
        Self.chunk("IEND", [], to: &out)
        return out
    }

    /// Baseline JPEG through libjpeg-turbo (4:2:0 for color, as browsers expect), quality 1-100.
    public func jpeg(quality: Int) throws -> [UInt8] {
        guard let handle = tjInitCompress() else { throw CodecError(.jpeg, "libjpeg-turbo could not start an encoder") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = pixels.withUnsafeBufferPointer { source in
            tjCompress2(handle, source.baseAddress, Int32(width), 0, Int32(height),
                        Int32((channels == 1 ? TJPF_GRAY : TJPF_RGB).rawValue), &buffer, &size,
                        Int32((channels == 1 ? TJSAMP_GRAY : TJSAMP_420).rawValue), Int32(max(1, min(100, quality))),
                        TJFLAG_FASTDCT)
        }
        defer { if let buffer { tjFree(buffer) } }
        guard status == 0, let buffer else {
            throw CodecError(.jpeg, "libjpeg-turbo could not encode: \(tjGetErrorStr2(handle).map { String(cString: $0) } ?? "")")
        }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    private static func appendBigEndian(_ value: UInt32, to out: inout [UInt8]) {
        out += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    private static func chunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        appendBigEndian(UInt32(data.count), to: &out)
        let typed = Array(type.utf8) + data
        out += typed
        let crc = typed.withUnsafeBufferPointer { CZlib.crc32(0, $0.baseAddress, uInt($0.count)) }
        appendBigEndian(UInt32(truncatingIfNeeded: crc), to: &out)
    }
}
