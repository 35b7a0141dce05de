/// RLE Lossless (PS3.5 Annex G), own code: a 64-byte header of segment offsets, then one
/// PackBits-coded segment per byte plane (most significant byte first, sample by sample).
public enum RLEDecoder {
    public static func decode(_ frame: [UInt8], _ pixels: PixelDescription) throws -> DecodedFrame {
        guard frame.count >= 64 else { throw CodecError(.rle, "the RLE header needs 64 bytes, the frame has \(frame.count)") }
        func u32(_ at: Int) -> Int {
            Int(frame[at]) | Int(frame[at + 1]) << 8 | Int(frame[at + 2]) << 16 | Int(frame[at + 3]) << 24
        }
        let segments = u32(0)
        let bytesPerSample = pixels.bytesPerSample
        let expected = pixels.samplesPerPixel * bytesPerSample
        guard segments <= 15 else { throw CodecError(.rle, "the RLE header names \(segments) segments (at most 15)") }
        guard segments == expected else {
            throw CodecError(.rle, "\(segments) RLE segments for \(pixels.samplesPerPixel) sample(s) of \(pixels.bitsAllocated) bits (expected \(expected))")
        }
        let offsets = (0..<segments).map { u32(4 + $0 * 4) }
        let pixelCount = pixels.rows * pixels.columns
        var output = [UInt8](repeating: 0, count: pixelCount * expected)
        for segment in 0..<segments {
            let start = offsets[segment]
            let end = segment + 1 < segments ? offsets[segment + 1] : frame.count
            guard start >= 64, start <= end, end <= frame.count else {
                throw CodecError(.rle, "RLE segment \(segment + 1) lies outside the frame (offset \(start))")
            }
            let sample = segment / bytesPerSample
            let byteInSample = bytesPerSample - 1 - segment % bytesPerSample   // MSB segment first → highest LE byte
            let stride = expected
            var target = sample * bytesPerSample + byteInSample
            var written = 0
            var i = start
            while i < end, written < pixelCount {
                let control = Int8(bitPattern: frame[i])
                i += 1
                if control >= 0 {
                    let count = Int(control) + 1
                    guard i + count <= end else { throw CodecError(.rle, "RLE segment \(segment + 1) ends inside a literal run") }
                    for k in 0..<min(count, pixelCount - written) {
                        output[target] = frame[i + k]
                        target += stride
                    }
                    written += min(count, pixelCount - written)
                    i += count
                } else if control != -128 {
                    guard i < end else { throw CodecError(.rle, "RLE segment \(segment + 1) ends inside a repeat run") }
                    let count = min(Int(-control) + 1, pixelCount - written)
                    let value = frame[i]
                    for _ in 0..<count {
                        output[target] = value
                        target += stride
                    }
                    written += count
                    i += 1
                }
            }
            guard written == pixelCount else {
                throw CodecError(.rle, "RLE segment \(segment + 1) decodes to \(written) bytes, not \(pixelCount)")
            }
        }
        return DecodedFrame(bytes: output, photometricInterpretation: pixels.photometricInterpretation)
    }
}
