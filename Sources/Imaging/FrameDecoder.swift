import DICOM

/// Decodes one compressed frame by transfer syntax into native little-endian samples, through
/// the syntax's entry in `CodecRegistry`.
public enum FrameDecoder {
    public static func decode(_ frame: [UInt8], transferSyntaxUID: String, _ pixels: PixelDescription) throws -> DecodedFrame {
        guard let codec = CodecRegistry.codec(for: transferSyntaxUID), codec.isCompressed else {
            throw CodecError(.unsupported, "decoding \(TransferSyntax(uid: transferSyntaxUID)?.name ?? transferSyntaxUID) is not supported")
        }
        return try codec.decode(frame, pixels)
    }
}
