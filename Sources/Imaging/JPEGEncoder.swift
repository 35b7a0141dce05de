import CTurboJPEG

/// JPEG baseline (8-bit, `TransferSyntax.jpegBaseline`) through libjpeg-turbo: the frames of lossy
/// requests and the images of rendered responses.
public enum JPEGEncoder {
    /// Quality used for lossy transfer-syntax requests (libjpeg scale, 1-100).
    public static let defaultQuality = 90

    /// Chroma subsampling of color output.
    public enum Subsampling: Sendable {
        /// 4:2:2, the layout DICOM names YBR_FULL_422 (lossy transfer syntaxes).
        case horizontal
        /// 4:2:0, what browsers expect of image/jpeg (rendered responses).
        case both
    }

    /// Encodes 8-bit interleaved samples: 1 channel (grayscale) or 3 (RGB).
    public static func encode(_ samples: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels: Int,
                              subsampling: Subsampling, quality: Int) throws -> [UInt8] {
        guard channels == 1 || channels == 3, samples.count >= width * height * channels else {
            throw CodecError(.jpeg, "JPEG input must be \(width)x\(height) 8-bit samples with 1 or 3 channels")
        }
        guard let handle = tjInitCompress() else { throw CodecError(.jpeg, "libjpeg-turbo could not start an encoder") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let sampling = channels == 1 ? TJSAMP_GRAY : (subsampling == .horizontal ? TJSAMP_422 : TJSAMP_420)
        let status = tjCompress2(handle, samples.baseAddress, Int32(width), 0, Int32(height),
                                 Int32((channels == 1 ? TJPF_GRAY : TJPF_RGB).rawValue), &buffer, &size,
                                 Int32(sampling.rawValue), Int32(max(1, min(100, quality))), TJFLAG_FASTDCT)
        defer { if let buffer { tjFree(buffer) } }
        guard status == 0, let buffer else {
            throw CodecError(.jpeg, "libjpeg-turbo could not encode: \(tjGetErrorStr2(handle).map { String(cString: $0) } ?? "")")
        }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    /// One native frame as a JPEG baseline frame (`TransferSyntax.jpegBaseline`), with the
    /// Photometric Interpretation the encapsulated frame has (color: YBR_FULL_422).
    /// - Parameter frame: interleaved samples in `pixels.photometricInterpretation`.
    public static func encodeFrame(_ frame: [UInt8], _ pixels: PixelDescription, quality: Int = defaultQuality)
        throws -> (bytes: [UInt8], photometricInterpretation: String) {
        guard pixels.bitsAllocated == 8, pixels.bitsStored <= 8, pixels.pixelRepresentation == 0 else {
            throw CodecError(.unsupported,
                "JPEG baseline holds unsigned 8-bit samples; these are \(pixels.bitsStored)-bit\(pixels.pixelRepresentation == 1 ? " signed" : "")")
        }
        let photometric = pixels.photometricInterpretation
        if pixels.samplesPerPixel == 1 {
            guard photometric.hasPrefix("MONOCHROME") else {
                throw CodecError(.unsupported, "\(photometric) cannot be encoded as JPEG baseline (MONOCHROME1/2, RGB or YBR_FULL can)")
            }
            let bytes = try frame.withUnsafeBufferPointer {
                try encode($0, width: pixels.columns, height: pixels.rows, channels: 1, subsampling: .horizontal, quality: quality)
            }
            return (bytes, photometric)
        }
        let rgb: [UInt8]
        switch photometric {
        case "RGB": rgb = frame
        case "YBR_FULL": rgb = ColorConversion.ybrFullToRGB(frame, count: pixels.rows * pixels.columns)
        default:
            throw CodecError(.unsupported, "\(photometric) cannot be encoded as JPEG baseline (MONOCHROME1/2, RGB or YBR_FULL can)")
        }
        let bytes = try rgb.withUnsafeBufferPointer {
            try encode($0, width: pixels.columns, height: pixels.rows, channels: 3, subsampling: .horizontal, quality: quality)
        }
        return (bytes, "YBR_FULL_422")
    }
}
