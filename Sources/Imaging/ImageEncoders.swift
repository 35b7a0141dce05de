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
        try pixels.withUnsafeBufferPointer {
            try JPEGEncoder.encode($0, width: width, height: height, channels: channels, subsampling: .both, quality: quality)
        }
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
