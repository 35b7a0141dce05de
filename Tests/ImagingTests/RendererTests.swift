import DICOM
import Foundation
@testable import Imaging
import Testing

@Suite struct RendererTests {
    /// 4 pixels of 16-bit signed values -1024, 0, 40, 3000 with rescale 1/0.
    func ct(_ values: [Int16], photometric: String = "MONOCHROME2") -> ([UInt8], PixelDescription, DataSet) {
        let bytes = values.flatMap { v -> [UInt8] in let u = UInt16(bitPattern: v); return [UInt8(u & 0xFF), UInt8(u >> 8)] }
        let pixels = PixelDescription(rows: 1, columns: values.count, samplesPerPixel: 1, bitsAllocated: 16, bitsStored: 16,
                                      pixelRepresentation: 1, photometricInterpretation: photometric, planarConfiguration: 0)
        var ds = DataSet()
        ds.setString(.rescaleSlope, vr: .DS, "1")
        ds.setString(.rescaleIntercept, vr: .DS, "0")
        return (bytes, pixels, ds)
    }

    @Test func linearWindowFollowsPS3_3() throws {
        let (bytes, pixels, ds) = ct([-1024, -160, 40, 239, 3000])
        let image = try Renderer.render(frame: bytes, pixels: pixels, photometricInterpretation: "MONOCHROME2", planar: false,
                                        dataSet: ds, options: RenderOptions(window: (40, 400, .linear)))
        // c - 0.5 ± (w - 1) / 2 = [-160, 239]: at or below → 0, above → 255, between linear.
        #expect(image.pixels == [0, 0, 128, 255, 255])
        let inverted = try Renderer.render(frame: bytes, pixels: pixels, photometricInterpretation: "MONOCHROME1", planar: false,
                                           dataSet: ds, options: RenderOptions(window: (40, 400, .linear)))
        #expect(inverted.pixels == image.pixels.map { 255 - $0 })
    }

    /// Every 16-bit stored value, against PS3.3 C.11.2.1.2 evaluated value by value: the table
    /// evaluates only the window's ramp and fills its two ends, which must change nothing.
    @Test(arguments: [(1.0, 0.0, VOIFunction.linear), (1.0, -1024.0, .linearExact), (0.5, 20.0, .sigmoid),
                      (-2.0, 100.0, .linear), (0.0, 7.0, .linear), (3.0, 0.0, .linearExact)])
    func everyStoredValueGetsThePS3_3GreyLevel(slope: Double, intercept: Double, function: VOIFunction) throws {
        let values = (Int(Int16.min)...Int(Int16.max)).map { Int16($0) }
        let (bytes, pixels, original) = ct(values)
        var ds = original
        ds.setString(.rescaleSlope, vr: .DS, String(slope))
        ds.setString(.rescaleIntercept, vr: .DS, String(intercept))
        for (c, w) in [(40.0, 400.0), (-600.0, 1.0), (0.0, 100_000.0)] {
            for photometric in ["MONOCHROME2", "MONOCHROME1"] {
                let image = try Renderer.render(frame: bytes, pixels: pixels, photometricInterpretation: photometric, planar: false,
                                                dataSet: ds, options: RenderOptions(window: (c, w, function)))
                let expected = values.map { value -> UInt8 in
                    let x = Double(value) * slope + intercept
                    let y: Double
                    switch function {
                    case .linear:
                        y = x <= c - 0.5 - (w - 1) / 2 ? 0 : x > c - 0.5 + (w - 1) / 2 ? 255
                            : ((x - (c - 0.5)) / (w - 1 == 0 ? 1 : w - 1) + 0.5) * 255
                    case .linearExact: y = ((x - c) / w + 0.5) * 255
                    case .sigmoid: y = 255 / (1 + exp(-4 * (x - c) / w))
                    }
                    let level = UInt8(min(255, max(0, y.rounded())))
                    return photometric == "MONOCHROME1" ? 255 - level : level
                }
                let wrong = zip(image.pixels, expected).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
                #expect(image.pixels.count == expected.count && wrong.isEmpty,
                        "window \(c)/\(w) \(photometric): \(wrong.count) values differ, first \(wrong.first.map { values[$0] } as Int16?)")
            }
        }
    }

    /// Shrinking reads the VOI table only at the samples bilinear scaling uses: the image must be
    /// the same as rendering every pixel and scaling afterwards.
    @Test(arguments: [(128, 128), (64, 200), (300, 30), (1, 1)])
    func shrinkingThroughTheTableEqualsRenderingThenScaling(viewport: (Int, Int)) throws {
        var generator = SystemRandomNumberGenerator()
        let values = (0..<(301 * 517)).map { _ in Int16.random(in: -1200...2400, using: &generator) }
        let bytes = values.flatMap { v -> [UInt8] in let u = UInt16(bitPattern: v); return [UInt8(u & 0xFF), UInt8(u >> 8)] }
        let pixels = PixelDescription(rows: 301, columns: 517, samplesPerPixel: 1, bitsAllocated: 16, bitsStored: 12,
                                      pixelRepresentation: 1, photometricInterpretation: "MONOCHROME2", planarConfiguration: 0)
        var ds = DataSet()
        ds.setString(.rescaleSlope, vr: .DS, "1")
        ds.setString(.rescaleIntercept, vr: .DS, "-24")
        for photometric in ["MONOCHROME2", "MONOCHROME1"] {
            for window in [(40.0, 400.0, VOIFunction.linear), (300.0, 1500.0, .sigmoid)] {
                let full = try Renderer.render(frame: bytes, pixels: pixels, photometricInterpretation: photometric, planar: false,
                                               dataSet: ds, options: RenderOptions(window: window))
                let expected = Renderer.scaled(full, toFit: viewport)
                let shrunk = try Renderer.render(frame: bytes, pixels: pixels, photometricInterpretation: photometric, planar: false,
                                                 dataSet: ds, options: RenderOptions(window: window, viewport: viewport))
                #expect(shrunk.width == expected.width && shrunk.height == expected.height && shrunk.width < 517)
                #expect(shrunk.pixels == expected.pixels, "\(photometric) \(window) to \(viewport)")
            }
        }
    }

    /// The grayscale loop of bilinear scaling against the general loop: a grey image scaled as
    /// itself and as RGB (every channel the grey value) must give the grey value in each channel.
    @Test(arguments: [(40, 40), (64, 13), (1, 1), (130, 96), (517, 301)])
    func grayscaleScalingEqualsTheColorPath(viewport: (Int, Int)) {
        var generator = SystemRandomNumberGenerator()
        let grey = (0..<(301 * 517)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let gray = Renderer.scaled(RenderedImage(width: 517, height: 301, channels: 1, pixels: grey), toFit: viewport)
        let color = Renderer.scaled(RenderedImage(width: 517, height: 301, channels: 3, pixels: grey.flatMap { [$0, $0, $0] }),
                                    toFit: viewport)
        #expect(gray.width == color.width && gray.height == color.height)
        #expect(color.pixels == gray.pixels.flatMap { [$0, $0, $0] }, "to \(viewport)")
    }

    /// 8-bit stored values (unsigned, and signed) through the VOI table while shrinking.
    @Test(arguments: [0, 1])
    func shrinkingEightBitSamplesEqualsRenderingThenScaling(pixelRepresentation: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(97 * 131)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let pixels = PixelDescription(rows: 97, columns: 131, samplesPerPixel: 1, bitsAllocated: 8, bitsStored: 8,
                                      pixelRepresentation: pixelRepresentation, photometricInterpretation: "MONOCHROME2",
                                      planarConfiguration: 0)
        for window in [(100.0, 120.0, VOIFunction.linear), (0.0, 200.0, .linearExact)] {
            let full = try Renderer.render(frame: bytes, pixels: pixels, photometricInterpretation: "MONOCHROME2", planar: false,
                                           dataSet: DataSet(), options: RenderOptions(window: window))
            let shrunk = try Renderer.render(frame: bytes, pixels: pixels, photometricInterpretation: "MONOCHROME2", planar: false,
                                             dataSet: DataSet(), options: RenderOptions(window: window, viewport: (50, 50)))
            #expect(shrunk.pixels == Renderer.scaled(full, toFit: (50, 50)).pixels, "\(window)")
        }
    }

    @Test func viewportKeepsTheAspectRatio() throws {
        let (bytes, pixels, ds) = ct(Array(repeating: 40, count: 8))
        let image = try Renderer.render(frame: bytes, pixels: pixels, photometricInterpretation: "MONOCHROME2", planar: false,
                                        dataSet: ds, options: RenderOptions(window: (40, 400, .linear), viewport: (4, 4)))
        #expect(image.width == 4 && image.height == 1)
    }

    @Test func pngHasItsSignatureChunksAndChecksums() throws {
        let png = try RenderedImage(width: 2, height: 2, channels: 1, pixels: [0, 64, 128, 255]).png()
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(String(decoding: png[12..<16], as: UTF8.self) == "IHDR")
        #expect(String(decoding: png.suffix(8).prefix(4), as: UTF8.self) == "IEND")
        let jpeg = try RenderedImage(width: 8, height: 8, channels: 3, pixels: Array(repeating: 200, count: 192)).jpeg(quality: 80)
        #expect(Array(jpeg.prefix(2)) == [0xFF, 0xD8])
    }

    @Test func unsupportedPhotometricIsACodecError() throws {
        let pixels = PixelDescription(rows: 1, columns: 1, samplesPerPixel: 1, bitsAllocated: 8, bitsStored: 8,
                                      pixelRepresentation: 0, photometricInterpretation: "PALETTE COLOR", planarConfiguration: 0)
        #expect(throws: CodecError.self) {
            try Renderer.render(frame: [1], pixels: pixels, photometricInterpretation: "PALETTE COLOR", planar: false,
                                dataSet: DataSet(), options: RenderOptions())
        }
    }
}
