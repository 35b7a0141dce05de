import CTurboJPEG
import Foundation

/// JPEG baseline (8-bit, `TransferSyntax.jpegBaseline`) through libjpeg-turbo's TurboJPEG API. Color
/// frames come out as interleaved RGB (YCbCr is converted, as a JPEG decoder does); 12-bit
/// extended JPEG needs libjpeg-turbo 3 and is refused here.
public enum JPEGDecoder {
    public static func decode(_ frame: [UInt8], _ pixels: PixelDescription) throws -> DecodedFrame {
        guard pixels.bitsAllocated == 8 else {
            throw CodecError(.unsupported, "\(pixels.bitsStored)-bit JPEG cannot be decoded by this libjpeg-turbo (8-bit only)")
        }
        guard let handle = tjInitDecompress() else { throw CodecError(.jpeg, "libjpeg-turbo could not start a decoder") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        var source = frame
        let headerStatus = source.withUnsafeMutableBufferPointer { buffer in
            tjDecompressHeader3(handle, buffer.baseAddress, UInt(buffer.count), &width, &height, &subsampling, &colorspace)
        }
        guard headerStatus == 0 else { throw CodecError(.jpeg, "not a JPEG stream libjpeg-turbo can read: \(message(handle))") }
        guard Int(width) == pixels.columns, Int(height) == pixels.rows else {
            throw CodecError(.jpeg, "the JPEG stream is \(width)x\(height), the image is \(pixels.columns)x\(pixels.rows)")
        }
        let gray = pixels.samplesPerPixel == 1
        let format = gray ? TJPF_GRAY : TJPF_RGB
        var output = [UInt8](repeating: 0, count: Int(width) * Int(height) * (gray ? 1 : 3))
        let status = source.withUnsafeMutableBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                tjDecompress2(handle, input.baseAddress, UInt(input.count), out.baseAddress, width, 0, height,
                              format.rawValue, TJFLAG_ACCURATEDCT)
            }
        }
        guard status == 0 else { throw CodecError(.jpeg, "libjpeg-turbo could not decode the frame: \(message(handle))") }
        return DecodedFrame(bytes: output, photometricInterpretation: gray ? pixels.photometricInterpretation : "RGB")
    }

    private static func message(_ handle: tjhandle) -> String {
        tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown error"
    }
}
