import DICOM

/// Decodes one compressed frame by transfer syntax into native little-endian samples.
public enum FrameDecoder {
    /// Transfer syntaxes whose frames `decode` handles.
    public static let decodable: Set<String> = [
        "1.2.840.10008.1.2.5",      // RLE Lossless
        "1.2.840.10008.1.2.4.90",   // JPEG 2000 Lossless Only
        "1.2.840.10008.1.2.4.91",   // JPEG 2000
        "1.2.840.10008.1.2.4.50",   // JPEG Baseline (8-bit)
    ]

    public static func decode(_ frame: [UInt8], transferSyntaxUID: String, _ pixels: PixelDescription) throws -> DecodedFrame {
        switch transferSyntaxUID {
        case "1.2.840.10008.1.2.5": return try RLEDecoder.decode(frame, pixels)
        case "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91": return try JPEG2000Decoder.decode(frame, pixels)
        case "1.2.840.10008.1.2.4.50": return try JPEGDecoder.decode(frame, pixels)
        default:
            throw CodecError(.unsupported, "decoding \(TransferSyntax(uid: transferSyntaxUID)?.name ?? transferSyntaxUID) is not supported")
        }
    }
}
