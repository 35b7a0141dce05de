import COpenJPEG
import Foundation

/// JPEG 2000 through OpenJPEG, as a raw codestream (what `TransferSyntax.jpeg2000Lossless` and
/// `.jpeg2000` fragments hold): lossless with the reversible 5/3 wavelet (and RCT for RGB), or lossy with the
/// irreversible 9/7 wavelet (and ICT for RGB) at a fixed compression ratio.
public enum JPEG2000Encoder {
    /// The ratio lossy encoding aims at (uncompressed size / codestream size): 10:1 keeps CT and
    /// MR visually lossless for review while cutting transfer sizes by an order of magnitude.
    public static let lossyCompressionRatio = 10.0

    private final class Sink {
        var bytes: [UInt8] = []
        var position = 0
    }

    /// - Parameter frame: native little-endian samples, interleaved.
    public static func encodeLossless(_ frame: [UInt8], _ pixels: PixelDescription) throws -> [UInt8] {
        try encode(frame, pixels, lossy: false)
    }

    /// Lossy at `lossyCompressionRatio`; the colour transform (ICT) is applied to RGB only.
    public static func encodeLossy(_ frame: [UInt8], _ pixels: PixelDescription) throws -> [UInt8] {
        try encode(frame, pixels, lossy: true)
    }

    /// The colour transform (RCT lossless, ICT lossy) is applied to RGB frames only: YBR_FULL
    /// samples are already decorrelated and are kept as they are.
    private static func encode(_ frame: [UInt8], _ pixels: PixelDescription, lossy: Bool) throws -> [UInt8] {
        let count = pixels.rows * pixels.columns
        let components = pixels.samplesPerPixel
        guard frame.count >= count * components * pixels.bytesPerSample else {
            throw CodecError(.jpeg2000, "the frame is shorter than its pixel description")
        }
        let precision = UInt32(max(1, min(pixels.bitsStored, pixels.bitsAllocated)))
        var parameters = [opj_image_cmptparm_t](repeating: opj_image_cmptparm_t(), count: components)
        for c in 0..<components {
            parameters[c].dx = 1
            parameters[c].dy = 1
            parameters[c].w = UInt32(pixels.columns)
            parameters[c].h = UInt32(pixels.rows)
            parameters[c].prec = precision
            parameters[c].sgnd = pixels.pixelRepresentation == 1 ? 1 : 0
        }
        let colorSpace = components == 3 ? OPJ_CLRSPC_SRGB : OPJ_CLRSPC_GRAY
        guard let image = parameters.withUnsafeMutableBufferPointer({ opj_image_create(UInt32(components), $0.baseAddress, colorSpace) }) else {
            throw CodecError(.jpeg2000, "OpenJPEG could not create an image")
        }
        defer { opj_image_destroy(image) }
        image.pointee.x1 = UInt32(pixels.columns)
        image.pointee.y1 = UInt32(pixels.rows)
        let signed = pixels.pixelRepresentation == 1
        let bits = Int(precision)
        for c in 0..<components {
            let data = image.pointee.comps[c].data!
            for i in 0..<count {
                let index = (i * components + c) * pixels.bytesPerSample
                var value = pixels.bytesPerSample == 1 ? Int(frame[index]) : Int(frame[index]) | Int(frame[index + 1]) << 8
                value &= (1 << bits) - 1
                if signed, value & (1 << (bits - 1)) != 0 { value -= 1 << bits }
                data[i] = Int32(value)
            }
        }
        guard let codec = opj_create_compress(OPJ_CODEC_J2K) else { throw CodecError(.jpeg2000, "OpenJPEG could not create an encoder") }
        defer { opj_destroy_codec(codec) }
        OpenJPEGSupport.silence(codec)
        var settings = opj_cparameters_t()
        opj_set_default_encoder_parameters(&settings)
        settings.tcp_numlayers = 1
        settings.tcp_rates.0 = lossy ? Float(lossyCompressionRatio) : 0   // 0: lossless
        settings.cp_disto_alloc = 1
        settings.irreversible = lossy ? 1 : 0
        settings.tcp_mct = components == 3 && pixels.photometricInterpretation == "RGB" ? 1 : 0
        settings.numresolution = Int32(max(1, min(6, Int(log2(Double(min(pixels.rows, pixels.columns)))) - 1)))
        guard opj_setup_encoder(codec, &settings, image) != 0 else { throw CodecError(.jpeg2000, "OpenJPEG rejected the encoder setup") }

        let sink = Sink()
        guard let stream = opj_stream_create(1 << 20, 0) else { throw CodecError(.jpeg2000, "OpenJPEG could not create a stream") }
        defer { opj_stream_destroy(stream) }
        opj_stream_set_user_data(stream, Unmanaged.passUnretained(sink).toOpaque(), nil)
        opj_stream_set_write_function(stream) { buffer, count, user in
            let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
            guard let buffer else { return OPJ_SIZE_T.max }
            let bytes = UnsafeRawBufferPointer(start: buffer, count: Int(count))
            let end = sink.position + Int(count)
            if end > sink.bytes.count { sink.bytes += [UInt8](repeating: 0, count: end - sink.bytes.count) }
            sink.bytes.replaceSubrange(sink.position..<end, with: bytes)
            sink.position = end
            return count
        }
        opj_stream_set_skip_function(stream) { count, user in
            let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
            let target = sink.position + Int(count)
            if target > sink.bytes.count { sink.bytes += [UInt8](repeating: 0, count: target - sink.bytes.count) }
            sink.position = target
            return count
        }
        opj_stream_set_seek_function(stream) { offset, user in
            let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
            guard offset >= 0 else { return 0 }
            if Int(offset) > sink.bytes.count { sink.bytes += [UInt8](repeating: 0, count: Int(offset) - sink.bytes.count) }
            sink.position = Int(offset)
            return 1
        }
        guard opj_start_compress(codec, image, stream) != 0, opj_encode(codec, stream) != 0, opj_end_compress(codec, stream) != 0 else {
            throw CodecError(.jpeg2000, "OpenJPEG could not encode the frame")
        }
        return sink.bytes
    }
}
