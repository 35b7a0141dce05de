/// RLE Lossless encoding (PS3.5 Annex G): one PackBits segment per byte plane, most significant
/// byte first, sample by sample, after the 64-byte header of segment offsets.
public enum RLEEncoder {
    /// - Parameter frame: native little-endian samples, interleaved (planar configuration 0).
    public static func encode(_ frame: [UInt8], _ pixels: PixelDescription) throws -> [UInt8] {
        let bytesPerSample = pixels.bytesPerSample
        let segments = pixels.samplesPerPixel * bytesPerSample
        guard segments <= 15 else { throw CodecError(.rle, "RLE holds at most 15 segments, \(segments) needed") }
        let count = pixels.rows * pixels.columns
        guard frame.count >= count * segments else { throw CodecError(.rle, "the frame is shorter than its pixel description") }
        var header = [UInt8](repeating: 0, count: 64)
        var body: [UInt8] = []
        func put(_ value: Int, at index: Int) {
            for k in 0..<4 { header[index + k] = UInt8((value >> (8 * k)) & 0xFF) }
        }
        put(segments, at: 0)
        var plane = [UInt8](repeating: 0, count: count)
        for segment in 0..<segments {
            let sample = segment / bytesPerSample
            let byteInSample = bytesPerSample - 1 - segment % bytesPerSample
            let stride = segments
            var source = sample * bytesPerSample + byteInSample
            for i in 0..<count { plane[i] = frame[source]; source += stride }
            put(64 + body.count, at: 4 + 4 * segment)
            packBits(plane, into: &body)
            if body.count % 2 == 1 { body.append(0x80) }   // segments start on even offsets (a no-op byte)
        }
        return header + body
    }

    /// PackBits: runs of 2..128 equal bytes as (1 - n, byte); other bytes as literals of 1..128.
    static func packBits(_ bytes: [UInt8], into out: inout [UInt8]) {
        var i = 0
        let n = bytes.count
        while i < n {
            var run = 1
            while i + run < n, run < 128, bytes[i + run] == bytes[i] { run += 1 }
            if run >= 2 {
                out.append(UInt8(bitPattern: Int8(1 - run)))
                out.append(bytes[i])
                i += run
                continue
            }
            let start = i
            i += 1
            while i < n, i - start < 128, !(i + 1 < n && bytes[i] == bytes[i + 1]) { i += 1 }
            out.append(UInt8(i - start - 1))
            out.append(contentsOf: bytes[start..<i])
        }
    }
}
