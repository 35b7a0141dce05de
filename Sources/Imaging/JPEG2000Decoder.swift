import COpenJPEG
import Foundation

/// JPEG 2000 (Part 1) decoding through OpenJPEG, from memory: the frame's codestream (or a JP2
/// file, by its signature) is handed to OpenJPEG through stream callbacks over the bytes.
public enum JPEG2000Decoder {
    /// The bytes OpenJPEG reads, with its position (the callbacks' user data).
    private final class Source {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }

    public static func decode(_ frame: [UInt8], _ pixels: PixelDescription, threads: Int32 = 2) throws -> DecodedFrame {
        let isJP2 = frame.count >= 12 && frame[4..<8].elementsEqual([0x6A, 0x50, 0x20, 0x20])   // "jP  " box
        guard let codec = opj_create_decompress(isJP2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K) else {
            throw CodecError(.jpeg2000, "OpenJPEG could not create a decoder")
        }
        defer { opj_destroy_codec(codec) }
        OpenJPEGSupport.silence(codec)
        var parameters = opj_dparameters_t()
        opj_set_default_decoder_parameters(&parameters)
        guard opj_setup_decoder(codec, &parameters) != 0 else { throw CodecError(.jpeg2000, "OpenJPEG rejected the decoder setup") }
        _ = opj_codec_set_threads(codec, threads)

        let source = Source(frame)
        guard let stream = opj_stream_create(1 << 20, 1) else { throw CodecError(.jpeg2000, "OpenJPEG could not create a stream") }
        defer { opj_stream_destroy(stream) }
        opj_stream_set_user_data(stream, Unmanaged.passUnretained(source).toOpaque(), nil)
        opj_stream_set_user_data_length(stream, UInt64(frame.count))
        opj_stream_set_read_function(stream) { buffer, count, user in
            let source = Unmanaged<Source>.fromOpaque(user!).takeUnretainedValue()
            let available = source.bytes.count - source.position
            guard available > 0, let buffer else { return OPJ_SIZE_T.max }   // end of stream
            let n = min(Int(count), available)
            source.bytes.withUnsafeBytes { bytes in
                buffer.copyMemory(from: bytes.baseAddress! + source.position, byteCount: n)
            }
            source.position += n
            return OPJ_SIZE_T(n)
        }
        opj_stream_set_skip_function(stream) { count, user in
            let source = Unmanaged<Source>.fromOpaque(user!).takeUnretainedValue()
            let target = max(0, min(source.bytes.count, source.position + Int(count)))
            let skipped = target - source.position
            source.position = target
            return OPJ_OFF_T(skipped)
        }
        opj_stream_set_seek_function(stream) { offset, user in
            let source = Unmanaged<Source>.fromOpaque(user!).takeUnretainedValue()
            guard offset >= 0, Int(offset) <= source.bytes.count else { return 0 }
            source.position = Int(offset)
            return 1
        }

        var imagePointer: UnsafeMutablePointer<opj_image_t>?
        guard opj_read_header(stream, codec, &imagePointer) != 0, let image = imagePointer else {
            throw CodecError(.jpeg2000, "not a JPEG 2000 codestream OpenJPEG can read")
        }
        defer { opj_image_destroy(image) }
        guard opj_decode(codec, stream, image) != 0, opj_end_decompress(codec, stream) != 0 else {
            throw CodecError(.jpeg2000, "OpenJPEG could not decode the codestream (damaged or truncated)")
        }
        let componentCount = Int(image.pointee.numcomps)
        guard componentCount == pixels.samplesPerPixel else {
            throw CodecError(.jpeg2000, "the codestream has \(componentCount) components, Samples per Pixel is \(pixels.samplesPerPixel)")
        }
        let width = pixels.columns, height = pixels.rows
        let components = (0..<componentCount).map { image.pointee.comps[$0] }
        for component in components where Int(component.w) != width || Int(component.h) != height || component.data == nil {
            throw CodecError(.jpeg2000, "a component is \(component.w)x\(component.h), the image is \(width)x\(height)")
        }
        let pixelCount = width * height
        let bytesPerSample = pixels.bytesPerSample
        var output = [UInt8](repeating: 0, count: pixelCount * componentCount * bytesPerSample)
        output.withUnsafeMutableBufferPointer { out in
            for (c, component) in components.enumerated() {
                let data = component.data!
                var target = c * bytesPerSample
                let step = componentCount * bytesPerSample
                if bytesPerSample == 1 {
                    for i in 0..<pixelCount { out[target] = UInt8(truncatingIfNeeded: data[i]); target += step }
                } else {
                    for i in 0..<pixelCount {
                        let value = UInt16(truncatingIfNeeded: data[i])
                        out[target] = UInt8(value & 0xFF)
                        out[target + 1] = UInt8(value >> 8)
                        target += step
                    }
                }
            }
        }
        // The codestream's multiple component transform (YBR_RCT / YBR_ICT) is undone: RGB out.
        let photometric = componentCount == 3 && pixels.photometricInterpretation.hasPrefix("YBR") ? "RGB" : pixels.photometricInterpretation
        return DecodedFrame(bytes: output, photometricInterpretation: photometric)
    }
}
