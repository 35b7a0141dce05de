import DICOM

/// One frame from its stored form to the form a response or a file needs: decoded from its
/// compressed syntax, then encoded into another (either or both). Shared by frame retrieval and
/// instance transcoding.
public enum FrameConversion {
    /// - Parameters:
    ///   - bytes: the frame as stored (native samples in `pixels`' layout, or a compressed frame).
    ///   - sourceSyntax: the stored transfer syntax, used when `decode` is true.
    /// - Returns: the frame and the Photometric Interpretation it is in now.
    public static func convert(_ bytes: [UInt8], pixels description: PixelDescription, sourceSyntax: String,
                               decode: Bool, encode: String?) throws -> (bytes: [UInt8], photometricInterpretation: String) {
        var bytes = bytes
        var pixels = description
        var planar = pixels.planarConfiguration == 1
        if decode {
            let decoded = try FrameDecoder.decode(bytes, transferSyntaxUID: sourceSyntax, pixels)
            guard decoded.bytes.count == pixels.frameLength else {
                throw CodecError(.unsupported, "a frame decodes to \(decoded.bytes.count) bytes, not \(pixels.frameLength)")
            }
            bytes = decoded.bytes
            pixels.photometricInterpretation = decoded.photometricInterpretation
            planar = false
        }
        guard let encode else { return (bytes, pixels.photometricInterpretation) }
        let input = try Compressor.encoderInput(bytes, &pixels, planar: planar)
        return try Compressor.encodeFrame(input, pixels, transferSyntaxUID: encode)
    }
}
