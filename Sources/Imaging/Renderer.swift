import DICOM
import Foundation

/// The VOI LUT functions of PS3.3 C.11.2.1.2 (and the names PS3.18's `window` parameter uses).
public enum VOIFunction: String, Sendable {
    case linear = "linear"
    case linearExact = "linear_exact"
    case sigmoid = "sigmoid"
}

/// What a rendered request asks for (PS3.18 §8.3.5.1): window, viewport size.
public struct RenderOptions: Sendable {
    public var window: (center: Double, width: Double, function: VOIFunction)?
    /// The image is scaled to fit inside (aspect ratio kept).
    public var viewport: (width: Int, height: Int)?
    /// Whether an image smaller than the viewport is scaled up to fill it (a requested viewport:
    /// yes; a thumbnail, whose size the server chooses: no, it would only add pixels).
    public var enlargesToViewport: Bool

    public init(window: (center: Double, width: Double, function: VOIFunction)? = nil, viewport: (width: Int, height: Int)? = nil,
                enlargesToViewport: Bool = true) {
        self.window = window
        self.viewport = viewport
        self.enlargesToViewport = enlargesToViewport
    }
}

/// One frame to an 8-bit image for display: Modality LUT (rescale slope/intercept), VOI (the
/// request's window, else the file's Window Center/Width, else the frame's value range),
/// MONOCHROME1 inversion; color frames to RGB. Then scaled to the viewport.
public enum Renderer {
    /// - Parameters:
    ///   - frame: native samples, little endian (as `FrameIndex` / `FrameDecoder` give them).
    ///   - photometricInterpretation: the frame's (after decoding).
    ///   - planar: whether color samples are stored plane by plane (native Planar Configuration 1).
    ///   - palette: the lookup tables of a PALETTE COLOR image.
    public static func render(frame: [UInt8], pixels: PixelDescription, photometricInterpretation: String, planar: Bool,
                              dataSet: DataSet, options: RenderOptions, palette: PaletteColorLUT? = nil) throws -> RenderedImage {
        let count = pixels.rows * pixels.columns
        let image: RenderedImage
        if pixels.samplesPerPixel == 1 {
            guard frame.count >= count * pixels.bytesPerSample else {
                throw CodecError(.unsupported, "the frame holds \(frame.count) bytes, fewer than its pixel description needs")
            }
            if photometricInterpretation == "PALETTE COLOR" {
                guard let palette else { throw CodecError(.unsupported, "PALETTE COLOR without its lookup tables") }
                image = RenderedImage(width: pixels.columns, height: pixels.rows, channels: 3,
                                      pixels: palette.apply(frame, count: count, bytesPerSample: pixels.bytesPerSample))
            } else {
                guard photometricInterpretation.hasPrefix("MONOCHROME") else {
                    throw CodecError(.unsupported, "rendering \(photometricInterpretation) is not supported")
                }
                // Shrinking: the VOI table is read only at the samples the scaling uses.
                let fit = options.viewport.flatMap { fittedSize(width: pixels.columns, height: pixels.rows, toFit: $0) }
                    .flatMap { $0.scale < 1 ? $0 : nil }
                image = grayscale(frame, pixels: pixels, inverted: photometricInterpretation == "MONOCHROME1",
                                  dataSet: dataSet, window: options.window, shrinkingTo: fit)
                if fit != nil { return image }
            }
        } else if pixels.samplesPerPixel == 3 {
            image = try color(frame, pixels: pixels, photometric: photometricInterpretation, planar: planar)
        } else {
            throw CodecError(.unsupported, "rendering \(pixels.samplesPerPixel) samples per pixel is not supported")
        }
        guard let viewport = options.viewport else { return image }
        if !options.enlargesToViewport, image.width <= viewport.width, image.height <= viewport.height { return image }
        return scaled(image, toFit: viewport)
    }

    /// Stored value of pixel `i` (sample 0), sign and Bits Stored applied.
    @inline(__always)
    private static func stored(_ frame: UnsafeBufferPointer<UInt8>, _ i: Int, _ pixels: PixelDescription) -> Int {
        let raw = pixels.bytesPerSample == 1 ? Int(frame[i]) : Int(frame[2 * i]) | Int(frame[2 * i + 1]) << 8
        let bits = max(1, min(pixels.bitsStored, pixels.bitsAllocated, 16))
        let masked = raw & ((1 << bits) - 1)
        if pixels.pixelRepresentation == 1, masked & (1 << (bits - 1)) != 0 { return masked - (1 << bits) }
        return masked
    }

    /// Through a lookup table over every stored value (at most 2^16 entries): one table lookup
    /// per pixel instead of the arithmetic, which made a 512x512 CT take milliseconds.
    /// - Parameter shrinkingTo: a smaller size to scale to (bilinear, as `scaled` does), reading
    ///   the table at the scaling's samples only: a 512x512 slice shrunk to a 128x128 thumbnail
    ///   needs 65,536 table reads instead of 262,144, with the same result.
    static func grayscale(_ frame: [UInt8], pixels: PixelDescription, inverted: Bool, dataSet: DataSet,
                          window requested: (center: Double, width: Double, function: VOIFunction)?,
                          shrinkingTo fit: (width: Int, height: Int, scale: Double)? = nil) -> RenderedImage {
        let count = pixels.rows * pixels.columns
        let slope = dataSet.string(.rescaleSlope).flatMap(ValueParsing.decimalString) ?? 1
        let intercept = dataSet.string(.rescaleIntercept).flatMap(ValueParsing.decimalString) ?? 0
        let bits = max(1, min(pixels.bitsStored, pixels.bitsAllocated, 16))
        let signed = pixels.pixelRepresentation == 1
        let lowest = signed ? -(1 << (bits - 1)) : 0
        var window = requested
        if window == nil,
           let center = dataSet.strings(.windowCenter)?.first.flatMap(ValueParsing.decimalString),
           let width = dataSet.strings(.windowWidth)?.first.flatMap(ValueParsing.decimalString), width >= 1 {
            let function = dataSet.string(.voilutFunction).flatMap { VOIFunction(rawValue: $0.lowercased()) } ?? .linear
            window = (center, width, function)
        }
        if window == nil {
            var low = Int.max, high = Int.min
            frame.withUnsafeBufferPointer { bytes in
                for i in 0..<count {
                    let v = stored(bytes, i, pixels)
                    low = min(low, v)
                    high = max(high, v)
                }
            }
            let a = Double(low) * slope + intercept, b = Double(high) * slope + intercept
            window = ((min(a, b) + max(a, b)) / 2 + 0.5, max(1, abs(b - a) + 1), .linear)
        }
        let (c, w, function) = window!
        let table = Self.voiTable(count: 1 << bits, inverted: inverted) { index in
            let x = Double(index + lowest) * slope + intercept
            var y: Double
            switch function {
            case .linear:
                let width = max(w, 1)
                if x <= c - 0.5 - (width - 1) / 2 {
                    y = 0
                } else if x > c - 0.5 + (width - 1) / 2 {
                    y = 255
                } else {
                    y = ((x - (c - 0.5)) / (width - 1 == 0 ? 1 : width - 1) + 0.5) * 255
                }
            case .linearExact:
                y = ((x - c) / max(w, Double.leastNonzeroMagnitude) + 0.5) * 255
            case .sigmoid:
                y = 255 / (1 + exp(-4 * (x - c) / max(w, Double.leastNonzeroMagnitude)))
            }
            return UInt8(min(255, max(0, y.rounded())))
        }
        let mask = (1 << bits) - 1
        // Table index = value - lowest: for signed data that is the masked value with the sign
        // bit flipped; for unsigned, the masked value itself (XOR with 0).
        let flip = signed ? 1 << (bits - 1) : 0
        let wide = pixels.bytesPerSample == 2
        if let fit {
            let out = frame.withUnsafeBytes { bytes in
                table.withUnsafeBufferPointer { lut in
                    wide ? bilinear(VOITableSource<UInt16>(frame: bytes, table: lut, mask: mask, flip: flip),
                                    width: pixels.columns, height: pixels.rows, channels: 1, to: fit)
                         : bilinear(VOITableSource<UInt8>(frame: bytes, table: lut, mask: mask, flip: flip),
                                    width: pixels.columns, height: pixels.rows, channels: 1, to: fit)
                }
            }
            return RenderedImage(width: fit.width, height: fit.height, channels: 1, pixels: out)
        }
        // Every pixel: the same mapping as `VOITableSource`, written out per sample width (through
        // `VOITableSource` this loop measured 3-4% slower on a rendered 512x512 CT).
        let out = [UInt8](unsafeUninitializedCapacity: count) { target, initialized in
            frame.withUnsafeBytes { bytes in
                table.withUnsafeBufferPointer { lut in
                    if wide {
                        for i in 0..<count {
                            let raw = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self)))
                            target[i] = lut[(raw & mask) ^ flip]
                        }
                    } else {
                        for i in 0..<count { target[i] = lut[(Int(bytes[i]) & mask) ^ flip] }
                    }
                }
            }
            initialized = count
        }
        return RenderedImage(width: pixels.columns, height: pixels.rows, channels: 1, pixels: out)
    }

    /// The grey level of every stored value (table index = value - lowest value), from `level`,
    /// which is monotonic in the index (a linear rescale, then a monotonic VOI function). A 16-bit
    /// table has 65,536 entries but only the window's ramp differs from its two ends: the ends are
    /// found by binary search and filled, and only the ramp is evaluated (a few hundred entries
    /// for a CT window instead of 65,536 evaluations, which were a sixth of a rendered CT's time).
    static func voiTable(count: Int, inverted: Bool, level: (Int) -> UInt8) -> [UInt8] {
        let first = level(0), last = level(count - 1)
        // The end of the run of `first` at the start and the start of the run of `last` at the end.
        var low = 0, high = count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if level(middle) == first { low = middle } else { high = middle - 1 }
        }
        let rampStart = low + 1
        low = rampStart; high = count - 1
        while low < high {
            let middle = (low + high) / 2
            if level(middle) == last { high = middle } else { low = middle + 1 }
        }
        let rampEnd = max(rampStart, low)
        var table = [UInt8](repeating: first, count: count)
        table.withUnsafeMutableBufferPointer { entries in
            for index in rampStart..<min(rampEnd, count) { entries[index] = level(index) }
            for index in min(rampEnd, count)..<count { entries[index] = last }
            if inverted { for index in 0..<count { entries[index] = 255 &- entries[index] } }
        }
        return table
    }

    /// RGB, YBR_FULL and native YBR_FULL_422 (its chroma pairs expanded first) to 8-bit RGB;
    /// samples wider than 8 bits keep their top 8 bits.
    static func color(_ frame: [UInt8], pixels: PixelDescription, photometric: String, planar: Bool) throws -> RenderedImage {
        let count = pixels.rows * pixels.columns
        var frame = frame, photometric = photometric, planar = planar
        if photometric == "YBR_FULL_422" {
            if frame.count < count * 3 * pixels.bytesPerSample {
                guard pixels.bitsAllocated == 8 else {
                    throw CodecError(.unsupported, "native YBR_FULL_422 is rendered for 8-bit samples only")
                }
                frame = try ColorConversion.expandYBRFull422(frame, rows: pixels.rows, columns: pixels.columns)
                planar = false
            }
            photometric = "YBR_FULL"
        }
        guard ["RGB", "YBR_FULL"].contains(photometric) else {
            throw CodecError(.unsupported, "rendering \(photometric) is not supported (RGB, YBR_FULL and YBR_FULL_422 are)")
        }
        guard frame.count >= count * 3 * pixels.bytesPerSample else {
            throw CodecError(.unsupported, "the frame holds \(frame.count) bytes, fewer than its pixel description needs")
        }
        let shift = max(0, min(pixels.bitsStored, pixels.bitsAllocated) - 8)
        var rgb = [UInt8](repeating: 0, count: count * 3)
        for i in 0..<count {
            for s in 0..<3 {
                let index = planar ? s * count + i : i * 3 + s
                let raw = pixels.bytesPerSample == 1 ? Int(frame[index]) : Int(frame[2 * index]) | Int(frame[2 * index + 1]) << 8
                rgb[3 * i + s] = UInt8(truncatingIfNeeded: raw >> shift)
            }
        }
        if photometric == "YBR_FULL" { rgb = ColorConversion.ybrFullToRGB(rgb, count: count) }
        return RenderedImage(width: pixels.columns, height: pixels.rows, channels: 3, pixels: rgb)
    }

    /// Bilinear scaling to the largest size that fits the viewport with the same aspect ratio.
    static func scaled(_ image: RenderedImage, toFit viewport: (width: Int, height: Int)) -> RenderedImage {
        let fit = fittedSize(width: image.width, height: image.height, toFit: viewport)
        if fit.width == image.width && fit.height == image.height { return image }
        let out = image.pixels.withUnsafeBufferPointer { source in
            bilinear(ByteSource(bytes: source), width: image.width, height: image.height, channels: image.channels, to: fit)
        }
        return RenderedImage(width: fit.width, height: fit.height, channels: image.channels, pixels: out)
    }

    /// The largest size that fits the viewport with the same aspect ratio, and its scale.
    static func fittedSize(width: Int, height: Int, toFit viewport: (width: Int, height: Int))
        -> (width: Int, height: Int, scale: Double) {
        let scale = min(Double(viewport.width) / Double(width), Double(viewport.height) / Double(height))
        return (max(1, Int((Double(width) * scale).rounded())), max(1, Int((Double(height) * scale).rounded())), scale)
    }

    /// Bilinear interpolation of `source` (width x height x channels samples) to `size`. Source
    /// positions and weights (in 1/256ths) are computed once per column and per row, so the
    /// per-pixel work is integer arithmetic only.
    private static func bilinear<Source: ScalingSource>(_ source: Source, width sourceWidth: Int, height sourceHeight: Int,
                                                        channels c: Int, to size: (width: Int, height: Int, scale: Double)) -> [UInt8] {
        let (width, height) = (size.width, size.height)
        let columns = samplePositions(count: width, sourceCount: sourceWidth, scale: size.scale)
        let rows = samplePositions(count: height, sourceCount: sourceHeight, scale: size.scale)
        let sourceStride = sourceWidth * c
        var out = [UInt8](repeating: 0, count: width * height * c)
        out.withUnsafeMutableBufferPointer { target in
            for y in 0..<height {
                let (y0, y1, fy) = rows[y]
                let top = y0 &* sourceStride, bottom = y1 &* sourceStride
                // Wrapping arithmetic: every value is bounded by 255 * 65536 and the indices by
                // the buffers, so overflow checks would only cost time in this loop.
                if c == 1 {   // grayscale, every thumbnail of a CT or MR: no channel loop
                    let line = y &* width
                    for x in 0..<width {
                        let (x0, x1, fx) = columns[x]
                        let p00 = source.sample(top &+ x0), p01 = source.sample(top &+ x1)
                        let p10 = source.sample(bottom &+ x0), p11 = source.sample(bottom &+ x1)
                        let upper = p00 &* 256 &+ (p01 &- p00) &* fx, lower = p10 &* 256 &+ (p11 &- p10) &* fx
                        let value = upper &* 256 &+ (lower &- upper) &* fy   // in 1/65536ths
                        target[line &+ x] = UInt8(truncatingIfNeeded: (value &+ 32768) >> 16)
                    }
                    continue
                }
                for x in 0..<width {
                    let (x0, x1, fx) = columns[x]
                    for k in 0..<c {
                        let p00 = source.sample(top &+ x0 &* c &+ k), p01 = source.sample(top &+ x1 &* c &+ k)
                        let p10 = source.sample(bottom &+ x0 &* c &+ k), p11 = source.sample(bottom &+ x1 &* c &+ k)
                        let upper = p00 &* 256 &+ (p01 &- p00) &* fx, lower = p10 &* 256 &+ (p11 &- p10) &* fx
                        let value = upper &* 256 &+ (lower &- upper) &* fy   // in 1/65536ths
                        target[(y &* width &+ x) &* c &+ k] = UInt8(truncatingIfNeeded: (value &+ 32768) >> 16)
                    }
                }
            }
        }
        return out
    }

    /// For each output index: the two source indices around its centre and the weight of the
    /// second, in 1/256ths.
    private static func samplePositions(count: Int, sourceCount: Int, scale: Double) -> [(Int, Int, Int)] {
        (0..<count).map { index in
            let position = min(Double(sourceCount - 1), max(0, (Double(index) + 0.5) / scale - 0.5))
            let first = Int(position)
            return (first, min(sourceCount - 1, first + 1), Int(((position - Double(first)) * 256).rounded()))
        }
    }
}

/// Where bilinear scaling reads its 8-bit samples (by sample index: pixel * channels + channel).
protocol ScalingSource {
    func sample(_ index: Int) -> Int
}

/// An image that is already 8-bit.
struct ByteSource: ScalingSource {
    let bytes: UnsafeBufferPointer<UInt8>
    @inline(__always) func sample(_ index: Int) -> Int { Int(bytes[index]) }
}

/// Stored grey values (8- or 16-bit little endian samples: `Sample`) seen through a VOI table
/// (see `Renderer.grayscale`). The sample width is a type, not a flag, so each specialization of
/// `bilinear` reads one width without a branch per sample.
struct VOITableSource<Sample: FixedWidthInteger & UnsignedInteger>: ScalingSource {
    let frame: UnsafeRawBufferPointer
    let table: UnsafeBufferPointer<UInt8>
    let mask: Int
    let flip: Int

    @inline(__always) func sample(_ index: Int) -> Int {
        let raw = Int(Sample(littleEndian: frame.loadUnaligned(fromByteOffset: index &* MemoryLayout<Sample>.size, as: Sample.self)))
        return Int(table[(raw & mask) ^ flip])
    }
}
