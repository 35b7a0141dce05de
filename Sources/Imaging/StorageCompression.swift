import DICOM

/// The optional storage policy "compress on ingest": uncompressed images are stored as JPEG 2000
/// lossless (1.2.840.10008.1.2.4.90). Same SOP Instance UID; decoding gives back the received
/// pixel values exactly (RGB is stored with the reversible colour transform, YBR_RCT).
public struct JPEG2000LosslessStorage: Part10Transcoding {
    public let name = "jpeg2000-lossless"
    /// Larger Pixel Data is stored as received: the whole value is encoded in memory.
    public static let maximumPixelDataBytes = 512 << 20

    public init() {}

    public func transcode(_ file: Part10File, path: String) throws -> [UInt8]? {
        let uncompressed: Set<String> = [
            TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid,
            TransferSyntax.explicitVRBigEndian.uid, TransferSyntax.deflatedExplicitVRLittleEndian.uid,
        ]
        guard uncompressed.contains(file.transferSyntaxUID), let element = file.dataSet[.pixelData],
              case .bytes(let value) = element.value, value.count > 0, value.count <= Self.maximumPixelDataBytes,
              let pixels = try? PixelDescription(file.dataSet),
              // Native YBR_FULL_422 would have to change layout to be encoded: kept as received.
              pixels.photometricInterpretation != "YBR_FULL_422" else { return nil }
        var source = file
        source.sourcePath = source.sourcePath ?? path
        let compressed = try Compressor.compress(try source.loadingDeferredValues(),
                                                 transferSyntaxUID: Compressor.jpeg2000Lossless)
        return try Part10Writer.write(compressed, meta: file.fileMetaInformation, transferSyntaxUID: Compressor.jpeg2000Lossless)
    }
}
