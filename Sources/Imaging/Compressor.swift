import DICOM
import Foundation

/// A native dataset's Pixel Data encoded into a compressed transfer syntax, frame by frame, one
/// fragment per frame with a Basic Offset Table; the Image Pixel attributes that change with it
/// are updated (Photometric Interpretation: YBR_RCT / YBR_ICT for RGB in JPEG 2000, YBR_FULL_422
/// for color JPEG baseline; Planar Configuration 0), and for lossy syntaxes the Lossy Image
/// Compression attributes (PS3.3 C.7.6.1.1.5). The SOP Instance UID is kept: this is a transfer
/// syntax of the same instance, as DIMSE transfer-syntax negotiation would produce.
public enum Compressor {
    /// One native frame (interleaved, in `pixels.photometricInterpretation`) in a compressed
    /// syntax, with the Photometric Interpretation the encoded frame has.
    public static func encodeFrame(_ frame: [UInt8], _ pixels: PixelDescription, transferSyntaxUID: String) throws
        -> (bytes: [UInt8], photometricInterpretation: String) {
        try encoder(for: transferSyntaxUID).encode(frame, pixels)
    }

    /// The registry's codec that encodes into a compressed syntax.
    static func encoder(for uid: String) throws -> Codec {
        guard let codec = CodecRegistry.codec(for: uid), codec.isCompressed, codec.canEncode else {
            throw CodecError(.unsupported, "encoding \(TransferSyntax(uid: uid)?.name ?? uid) is not supported")
        }
        return codec
    }

    /// A native frame as the encoders take it: interleaved, and native YBR_FULL_422 expanded to
    /// YBR_FULL (the pixel description is updated to match).
    public static func encoderInput(_ frame: [UInt8], _ pixels: inout PixelDescription, planar: Bool) throws -> [UInt8] {
        if pixels.samplesPerPixel == 3, pixels.photometricInterpretation == "YBR_FULL_422", frame.count < pixels.frameLength {
            guard pixels.bitsAllocated == 8 else {
                throw CodecError(.unsupported, "native YBR_FULL_422 is encoded for 8-bit samples only")
            }
            pixels.photometricInterpretation = "YBR_FULL"
            return try ColorConversion.expandYBRFull422(frame, rows: pixels.rows, columns: pixels.columns)
        }
        if pixels.samplesPerPixel > 1, planar { return try interleaved(frame, pixels) }
        return frame
    }

    /// - Parameter dataSet: with native Pixel Data in memory (little endian, any planar configuration).
    public static func compress(_ dataSet: DataSet, transferSyntaxUID: String) throws -> DataSet {
        let codec = try encoder(for: transferSyntaxUID)
        // Without Pixel Data the dataset is already valid in any of these syntaxes (Explicit VR LE).
        guard dataSet.contains(.pixelData) else { return dataSet }
        let stored = try PixelDescription(dataSet)
        guard let native = dataSet[.pixelData]?.bytes else {
            throw CodecError(.unsupported, "the instance's Pixel Data is not native")
        }
        let storedFrameLength = stored.samplesPerPixel == 3 && stored.photometricInterpretation == "YBR_FULL_422"
            ? stored.rows * stored.columns * 2 * stored.bytesPerSample : stored.frameLength
        let frames = max(1, dataSet.string(.numberOfFrames).flatMap(ValueParsing.integerString) ?? 1)
        guard frames <= native.count / storedFrameLength else {
            throw CodecError(.unsupported, "Pixel Data holds \(native.count) bytes: fewer than \(frames) frame(s) of \(storedFrameLength)")
        }
        var fragments: [LazyBytes] = []
        var offsets: [UInt8] = []
        var position = 0
        var photometric = stored.photometricInterpretation
        for index in 0..<frames {
            var pixels = stored
            let frame = try encoderInput(Array(native[(index * storedFrameLength)..<((index + 1) * storedFrameLength)]), &pixels,
                                         planar: stored.planarConfiguration == 1)
            var (encoded, encodedPhotometric) = try codec.encode(frame, pixels)
            photometric = encodedPhotometric
            if encoded.count % 2 == 1 { encoded.append(0) }
            guard position <= Int(UInt32.max) else {
                throw CodecError(.unsupported, "the compressed frames exceed the 4 GiB a Basic Offset Table can address")
            }
            offsets += [UInt8(position & 0xFF), UInt8((position >> 8) & 0xFF), UInt8((position >> 16) & 0xFF), UInt8(position >> 24)]
            position += 8 + encoded.count
            fragments.append(.bytes(encoded))
        }
        var result = dataSet
        result.set(DataElement(tag: .pixelData, vr: .OB, value: .encapsulated(
            EncapsulatedPixelData(basicOffsetTable: frames > 1 ? offsets : [], fragments: fragments))))
        if stored.samplesPerPixel > 1 {
            result.set(DataElement(tag: .planarConfiguration, vr: .US, bytes: NumericValue.encode([0], size: 2)))
        }
        if photometric != stored.photometricInterpretation {
            result.setString(.photometricInterpretation, vr: .CS, photometric)
        }
        if let method = codec.lossyCompressionMethod {
            let compressed = fragments.reduce(0) { $0 + $1.count }
            markLossy(&result, ratio: Double(frames * stored.frameLength) / Double(max(1, compressed)), method: method)
        }
        return result
    }

    /// Lossy Image Compression "01", with this step's ratio and method appended to any earlier
    /// ones (PS3.3 C.7.6.1.1.5: the values record every lossy step in order).
    static func markLossy(_ dataSet: inout DataSet, ratio: Double, method: String) {
        dataSet.setString(.lossyImageCompression, vr: .CS, "01")
        let ratios = (dataSet.strings(.lossyImageCompressionRatio) ?? []) + [decimalString(ratio)]
        let methods = (dataSet.strings(.lossyImageCompressionMethod) ?? []) + [method]
        dataSet.setStrings(.lossyImageCompressionRatio, vr: .DS, ratios)
        dataSet.setStrings(.lossyImageCompressionMethod, vr: .CS, methods)
    }

    /// A DS value (at most 16 characters): the ratio to two decimals.
    static func decimalString(_ value: Double) -> String {
        String(format: "%.2f", min(value, 1e12))
    }

    static func interleaved(_ planar: [UInt8], _ pixels: PixelDescription) throws -> [UInt8] {
        let count = pixels.rows * pixels.columns, size = pixels.bytesPerSample, samples = pixels.samplesPerPixel
        guard planar.count >= pixels.frameLength else {
            throw CodecError(.unsupported, "the frame holds \(planar.count) bytes, fewer than its pixel description needs")
        }
        var out = [UInt8](repeating: 0, count: planar.count)
        for s in 0..<samples {
            for i in 0..<count {
                for b in 0..<size { out[(i * samples + s) * size + b] = planar[(s * count + i) * size + b] }
            }
        }
        return out
    }
}
