import DICOM
import Foundation
@testable import Imaging
import Testing

/// Lossy encoders (JPEG baseline, JPEG 2000 irreversible), the Lossy Image Compression
/// attributes, and the color models rendering supports beyond RGB.
@Suite struct LossyAndColorTests {
    /// A smooth 8-bit grayscale frame (a diagonal ramp).
    static func ramp(rows: Int = 32, columns: Int = 48) -> ([UInt8], PixelDescription) {
        let bytes = (0..<(rows * columns)).map { UInt8(truncatingIfNeeded: ($0 % columns) * 4 + ($0 / columns) * 2) }
        return (bytes, PixelDescription(rows: rows, columns: columns, samplesPerPixel: 1, bitsAllocated: 8, bitsStored: 8,
                                        pixelRepresentation: 0, photometricInterpretation: "MONOCHROME2", planarConfiguration: 0))
    }

    static func maximumError(_ a: [UInt8], _ b: [UInt8]) -> Int {
        zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }

    @Test func jpegBaselineRoundTripsWithinTolerance() throws {
        let (frame, pixels) = Self.ramp()
        let (encoded, photometric) = try JPEGEncoder.encodeFrame(frame, pixels)
        #expect(photometric == "MONOCHROME2")
        #expect(Array(encoded.prefix(2)) == [0xFF, 0xD8])
        let decoded = try JPEGDecoder.decode(encoded, pixels)
        #expect(Self.maximumError(decoded.bytes, frame) <= 6)
    }

    @Test func colorJPEGIsYBRFull422AndDecodesCloseToTheRGB() throws {
        let (gray, base) = Self.ramp()
        var pixels = base
        pixels.samplesPerPixel = 3
        pixels.photometricInterpretation = "RGB"
        let rgb = gray.flatMap { [$0, 255 - $0, $0 / 2] }
        let (encoded, photometric) = try JPEGEncoder.encodeFrame(rgb, pixels)
        #expect(photometric == "YBR_FULL_422")
        let decoded = try JPEGDecoder.decode(encoded, pixels)
        #expect(decoded.photometricInterpretation == "RGB")
        #expect(Self.maximumError(decoded.bytes, rgb) <= 12)
    }

    @Test func jpegBaselineRefusesWideSignedAndPaletteSamples() throws {
        let (frame, pixels) = Self.ramp()
        var wide = pixels
        wide.bitsAllocated = 16
        wide.bitsStored = 12
        #expect(throws: CodecError.self) { try JPEGEncoder.encodeFrame(frame + frame, wide) }
        var palette = pixels
        palette.photometricInterpretation = "PALETTE COLOR"
        #expect(throws: CodecError.self) { try JPEGEncoder.encodeFrame(frame, palette) }
    }

    @Test func jpeg2000LossyMeetsItsRatioAndStaysClose() throws {
        // 16-bit signed CT-like ramp with texture (so that lossless coding cannot shrink it 10:1).
        let rows = 64, columns = 64
        var seed: UInt32 = 12345
        let values = (0..<(rows * columns)).map { index -> Int16 in
            seed = seed &* 1_103_515_245 &+ 12_345
            return Int16((index % columns) * 30 - 1000 + (index / columns) * 5 + Int(seed >> 16) % 64)
        }
        let frame = values.flatMap { v -> [UInt8] in let u = UInt16(bitPattern: v); return [UInt8(u & 0xFF), UInt8(u >> 8)] }
        let pixels = PixelDescription(rows: rows, columns: columns, samplesPerPixel: 1, bitsAllocated: 16, bitsStored: 16,
                                      pixelRepresentation: 1, photometricInterpretation: "MONOCHROME2", planarConfiguration: 0)
        let lossy = try JPEG2000Encoder.encodeLossy(frame, pixels)
        let lossless = try JPEG2000Encoder.encodeLossless(frame, pixels)
        #expect(lossy.count < lossless.count)
        #expect(Double(frame.count) / Double(lossy.count) >= JPEG2000Encoder.lossyCompressionRatio * 0.8)
        let decoded = try JPEG2000Decoder.decode(lossy, pixels).bytes
        let samples = stride(from: 0, to: decoded.count, by: 2).map { Int(Int16(bitPattern: UInt16(decoded[$0]) | UInt16(decoded[$0 + 1]) << 8)) }
        let squared = zip(samples, values).map { Double($0 - Int($1)) * Double($0 - Int($1)) }.reduce(0, +)
        let rms = (squared / Double(values.count)).squareRoot()
        #expect(rms <= 25, "RMS error \(rms) over a range of ~2,200")
    }

    @Test func compressorMarksLossySyntaxesAndAppendsToEarlierSteps() throws {
        let (frame, pixels) = Self.ramp()
        var ds = DataSet()
        ds.set(DataElement(tag: .rows, vr: .US, bytes: NumericValue.encode([UInt64(pixels.rows)], size: 2)))
        ds.set(DataElement(tag: .columns, vr: .US, bytes: NumericValue.encode([UInt64(pixels.columns)], size: 2)))
        ds.set(DataElement(tag: .samplesPerPixel, vr: .US, bytes: NumericValue.encode([1], size: 2)))
        ds.set(DataElement(tag: .bitsAllocated, vr: .US, bytes: NumericValue.encode([8], size: 2)))
        ds.set(DataElement(tag: .bitsStored, vr: .US, bytes: NumericValue.encode([8], size: 2)))
        ds.set(DataElement(tag: .pixelRepresentation, vr: .US, bytes: NumericValue.encode([0], size: 2)))
        ds.setString(.photometricInterpretation, vr: .CS, "MONOCHROME2")
        ds.set(DataElement(tag: .pixelData, vr: .OB, bytes: frame))
        let lossless = try Compressor.compress(ds, transferSyntaxUID: "1.2.840.10008.1.2.4.90")
        #expect(!lossless.contains(.lossyImageCompression))
        let jpeg = try Compressor.compress(ds, transferSyntaxUID: "1.2.840.10008.1.2.4.50")
        #expect(jpeg.string(.lossyImageCompression) == "01")
        #expect(jpeg.strings(.lossyImageCompressionMethod) == ["ISO_10918_1"])
        let ratio = try #require(jpeg.strings(.lossyImageCompressionRatio)?.first.flatMap(Double.init))
        #expect(ratio > 1)
        // A second lossy step records both, in order.
        var again = ds
        again.setString(.lossyImageCompression, vr: .CS, "01")
        again.setStrings(.lossyImageCompressionMethod, vr: .CS, ["ISO_10918_1"])
        again.setStrings(.lossyImageCompressionRatio, vr: .DS, ["5.00"])
        let twice = try Compressor.compress(again, transferSyntaxUID: "1.2.840.10008.1.2.4.91")
        #expect(twice.strings(.lossyImageCompressionMethod) == ["ISO_10918_1", "ISO_15444_1"])
        #expect(twice.strings(.lossyImageCompressionRatio)?.count == 2)
    }

    @Test func ybrFull422PairsShareTheirChroma() throws {
        // Two pixels per group: Y1 Y2 Cb Cr.
        let expanded = try ColorConversion.expandYBRFull422([10, 20, 100, 200, 30, 40, 110, 210], rows: 1, columns: 4)
        #expect(expanded == [10, 100, 200, 20, 100, 200, 30, 110, 210, 40, 110, 210])
        #expect(throws: CodecError.self) { try ColorConversion.expandYBRFull422([1, 2, 3], rows: 1, columns: 3) }
        // Neutral chroma (128) keeps grey grey.
        #expect(ColorConversion.ybrFullToRGB([77, 128, 128], count: 1) == [77, 77, 77])
    }

    @Test func paletteColorMapsThroughTheTablesWithFirstMappedAndClamping() throws {
        var ds = DataSet()
        // 4 entries of 16 bits, first mapped value 10.
        let descriptor = NumericValue.encode([4, 10, 16], size: 2)
        for tag: DICOM.Tag in [.redPaletteColorLookupTableDescriptor, .greenPaletteColorLookupTableDescriptor,
                               .bluePaletteColorLookupTableDescriptor] {
            ds.set(DataElement(tag: tag, vr: .US, bytes: descriptor))
        }
        let entries: [UInt64] = [0x0000, 0x4000, 0x8000, 0xFFFF]
        ds.set(DataElement(tag: .redPaletteColorLookupTableData, vr: .OW, bytes: NumericValue.encode(entries, size: 2)))
        ds.set(DataElement(tag: .greenPaletteColorLookupTableData, vr: .OW, bytes: NumericValue.encode(entries.reversed(), size: 2)))
        ds.set(DataElement(tag: .bluePaletteColorLookupTableData, vr: .OW, bytes: NumericValue.encode([0, 0, 0, 0], size: 2)))
        let palette = try PaletteColorLUT(ds) { _ in [] }
        // Values 9 (below the first mapped), 10, 12, 99 (above the last entry).
        let rgb = palette.apply([9, 10, 12, 99], count: 4, bytesPerSample: 1)
        #expect(rgb == [0x00, 0xFF, 0, 0x00, 0xFF, 0, 0x80, 0x40, 0, 0xFF, 0x00, 0])
        let image = try Renderer.render(frame: [10, 13], pixels: PixelDescription(
            rows: 1, columns: 2, samplesPerPixel: 1, bitsAllocated: 8, bitsStored: 8, pixelRepresentation: 0,
            photometricInterpretation: "PALETTE COLOR", planarConfiguration: 0), photometricInterpretation: "PALETTE COLOR",
            planar: false, dataSet: ds, options: RenderOptions(), palette: palette)
        #expect(image.channels == 3 && image.pixels == [0x00, 0xFF, 0, 0xFF, 0x00, 0])
    }

    @Test func eachPaletteTableKeepsItsOwnFirstMappedValue() throws {
        var ds = DataSet()
        ds.set(DataElement(tag: .redPaletteColorLookupTableDescriptor, vr: .US, bytes: NumericValue.encode([2, 0, 8], size: 2)))
        ds.set(DataElement(tag: .greenPaletteColorLookupTableDescriptor, vr: .US, bytes: NumericValue.encode([2, 0, 8], size: 2)))
        ds.set(DataElement(tag: .bluePaletteColorLookupTableDescriptor, vr: .US, bytes: NumericValue.encode([2, 1, 8], size: 2)))
        for tag: DICOM.Tag in [.redPaletteColorLookupTableData, .greenPaletteColorLookupTableData, .bluePaletteColorLookupTableData] {
            ds.set(DataElement(tag: tag, vr: .OW, bytes: [10, 0, 20, 0]))   // 8-bit entries in 16-bit words
        }
        let palette = try PaletteColorLUT(ds) { _ in [] }
        #expect(palette.firstMapped == [0, 0, 1])
        // Value 1: red/green entry 1 (20); blue entry 0 (10), as blue starts at 1.
        #expect(palette.apply([1], count: 1, bytesPerSample: 1) == [20, 20, 10])
    }

    @Test func segmentedPalettesAreRefusedWithAReason() throws {
        var ds = DataSet()
        ds.set(DataElement(tag: .segmentedRedPaletteColorLookupTableData, vr: .OW, bytes: [0, 0]))
        #expect(throws: CodecError.self) { try PaletteColorLUT(ds) { _ in [] } }
    }
}
