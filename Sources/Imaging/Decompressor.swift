import DICOM

/// A compressed instance made native: every frame decoded into one Pixel Data value, with the
/// Image Pixel attributes that change with it (Photometric Interpretation after YCbCr/RCT
/// conversion, Planar Configuration 0). Lossy Image Compression attributes stay as they were:
/// decoding does not undo a loss.
public enum Decompressor {
    /// - Parameter file: read with deferred values (`deferValuesLongerThan: 0`) from `path`.
    public static func decompress(_ file: Part10File, path: String) throws -> DataSet {
        let pixels = try PixelDescription(file.dataSet)
        let index = try FrameIndex(file)
        guard index.isEncapsulated else { return try file.loadingDeferredValues() }
        var native: [UInt8] = []   // grows as frames decode: nothing is reserved from header values alone
        var photometric = pixels.photometricInterpretation
        for frame in 0..<index.numberOfFrames {
            let decoded = try FrameDecoder.decode(try index.bytes(ofFrame: frame, path: path),
                                                  transferSyntaxUID: file.transferSyntaxUID, pixels)
            guard decoded.bytes.count == pixels.frameLength else {
                throw CodecError(.unsupported, "frame \(frame + 1) decodes to \(decoded.bytes.count) bytes, not \(pixels.frameLength)")
            }
            native += decoded.bytes
            photometric = decoded.photometricInterpretation
        }
        var rest = file
        _ = rest.dataSet.remove(.pixelData)
        rest.sourcePath = path
        var dataSet = try rest.loadingDeferredValues()
        dataSet.set(DataElement(tag: .pixelData, vr: pixels.bitsAllocated > 8 ? .OW : .OB, bytes: native))
        dataSet.setString(.photometricInterpretation, vr: .CS, photometric)
        if pixels.samplesPerPixel > 1 {
            dataSet.set(DataElement(tag: .planarConfiguration, vr: .US, bytes: NumericValue.encode([0], size: 2)))
        }
        _ = dataSet.remove(.extendedOffsetTable)
        _ = dataSet.remove(.extendedOffsetTableLengths)
        return dataSet
    }
}
