import DICOM

/// A native dataset's Pixel Data encoded into a compressed transfer syntax, frame by frame, one
/// fragment per frame with a Basic Offset Table; the Image Pixel attributes that change with it
/// (JPEG 2000 with the reversible colour transform: YBR_RCT) are updated.
public enum Compressor {
    /// Syntaxes `compress` produces (lossless only: the pixel values stay identical).
    public static let encodable: Set<String> = ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.90"]

    /// - Parameter dataSet: with native Pixel Data in memory (little endian, any planar configuration).
    public static func compress(_ dataSet: DataSet, transferSyntaxUID: String) throws -> DataSet {
        guard encodable.contains(transferSyntaxUID) else {
            throw CodecError(.unsupported, "encoding \(TransferSyntax(uid: transferSyntaxUID)?.name ?? transferSyntaxUID) is not supported")
        }
        // Without Pixel Data the dataset is already valid in any of these syntaxes (Explicit VR LE).
        guard dataSet.contains(.pixelData) else { return dataSet }
        var pixels = try PixelDescription(dataSet)
        guard let native = dataSet[.pixelData]?.bytes else {
            throw CodecError(.unsupported, "the instance's Pixel Data is not native")
        }
        let frames = max(1, dataSet.string(.numberOfFrames).flatMap(ValueParsing.integerString) ?? 1)
        guard frames <= native.count / pixels.frameLength else {
            throw CodecError(.unsupported, "Pixel Data holds \(native.count) bytes: fewer than \(frames) frame(s) of \(pixels.frameLength)")
        }
        var fragments: [LazyBytes] = []
        var offsets: [UInt8] = []
        var position = 0
        for index in 0..<frames {
            var frame = Array(native[(index * pixels.frameLength)..<((index + 1) * pixels.frameLength)])
            if pixels.samplesPerPixel > 1, pixels.planarConfiguration == 1 { frame = interleaved(frame, pixels) }
            var encoded = transferSyntaxUID == "1.2.840.10008.1.2.5"
                ? try RLEEncoder.encode(frame, pixels) : try JPEG2000Encoder.encodeLossless(frame, pixels)
            if encoded.count % 2 == 1 { encoded.append(0) }
            guard position <= Int(UInt32.max) else {
                throw CodecError(.unsupported, "the compressed frames exceed the 4 GiB a Basic Offset Table can address")
            }
            offsets += [UInt8(position & 0xFF), UInt8((position >> 8) & 0xFF), UInt8((position >> 16) & 0xFF), UInt8(position >> 24)]
            position += 8 + encoded.count
            fragments.append(.bytes(encoded))
        }
        pixels.planarConfiguration = 0
        var result = dataSet
        result.set(DataElement(tag: .pixelData, vr: .OB, value: .encapsulated(
            EncapsulatedPixelData(basicOffsetTable: frames > 1 ? offsets : [], fragments: fragments))))
        if pixels.samplesPerPixel > 1 {
            result.set(DataElement(tag: .planarConfiguration, vr: .US, bytes: NumericValue.encode([0], size: 2)))
            if transferSyntaxUID == "1.2.840.10008.1.2.4.90", pixels.photometricInterpretation == "RGB" {
                result.setString(.photometricInterpretation, vr: .CS, "YBR_RCT")
            }
        }
        return result
    }

    static func interleaved(_ planar: [UInt8], _ pixels: PixelDescription) -> [UInt8] {
        let count = pixels.rows * pixels.columns, size = pixels.bytesPerSample, samples = pixels.samplesPerPixel
        var out = [UInt8](repeating: 0, count: planar.count)
        for s in 0..<samples {
            for i in 0..<count {
                for b in 0..<size { out[(i * samples + s) * size + b] = planar[(s * count + i) * size + b] }
            }
        }
        return out
    }
}
