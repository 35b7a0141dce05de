import DICOM

/// Color models of PS3.3 C.7.6.3.1.2 converted to interleaved 8-bit RGB (and YBR_FULL_422's
/// shared chroma expanded), for rendering and for encoders that take RGB.
public enum ColorConversion {
    /// YBR_FULL (ITU-R BT.601 full range, PS3.3 C.7.6.3.1.2) to RGB, 8-bit interleaved.
    public static func ybrFullToRGB(_ samples: [UInt8], count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count * 3)
        samples.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for i in 0..<count {
                    let y = Double(source[3 * i]), cb = Double(source[3 * i + 1]) - 128, cr = Double(source[3 * i + 2]) - 128
                    target[3 * i] = clamp(y + 1.402 * cr)
                    target[3 * i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr)
                    target[3 * i + 2] = clamp(y + 1.772 * cb)
                }
            }
        }
        return out
    }

    /// Native YBR_FULL_422 (8-bit; each pair of pixels in a row stored as Y1 Y2 Cb Cr,
    /// PS3.3 C.7.6.3.1.2) expanded to YBR_FULL: both pixels of a pair take the pair's chroma.
    public static func expandYBRFull422(_ frame: [UInt8], rows: Int, columns: Int) throws -> [UInt8] {
        guard columns % 2 == 0 else {
            throw CodecError(.unsupported, "YBR_FULL_422 needs an even number of columns, not \(columns)")
        }
        let needed = rows * columns * 2
        guard frame.count >= needed else {
            throw CodecError(.unsupported, "a YBR_FULL_422 frame of \(columns)x\(rows) holds \(needed) bytes, not \(frame.count)")
        }
        var out = [UInt8](repeating: 0, count: rows * columns * 3)
        for pair in 0..<(rows * columns / 2) {
            let y1 = frame[4 * pair], y2 = frame[4 * pair + 1], cb = frame[4 * pair + 2], cr = frame[4 * pair + 3]
            out[6 * pair] = y1
            out[6 * pair + 1] = cb
            out[6 * pair + 2] = cr
            out[6 * pair + 3] = y2
            out[6 * pair + 4] = cb
            out[6 * pair + 5] = cr
        }
        return out
    }

    @inline(__always)
    static func clamp(_ value: Double) -> UInt8 { UInt8(min(255, max(0, value.rounded()))) }
}

/// A PALETTE COLOR image's Red, Green and Blue lookup tables (PS3.3 C.7.6.3.1.5-6), as 8-bit
/// entries. Segmented palettes (C.7.9.2) are not supported.
public struct PaletteColorLUT: Sendable {
    public let red: [UInt8]
    public let green: [UInt8]
    public let blue: [UInt8]
    /// The first stored value each table (red, green, blue) maps; values below it take entry 0,
    /// above its end the last entry.
    public let firstMapped: [Int]
    /// Stored values are masked to Bits Stored before the lookup.
    public let bitsStored: Int

    /// - Parameter load: reads a deferred value (a reader that left the tables in the file).
    public init(_ dataSet: DataSet, load: (BulkDataReference) throws -> [UInt8]) throws {
        let descriptorTags: [DICOM.Tag] = [.redPaletteColorLookupTableDescriptor, .greenPaletteColorLookupTableDescriptor,
                                           .bluePaletteColorLookupTableDescriptor]
        let dataTags: [DICOM.Tag] = [.redPaletteColorLookupTableData, .greenPaletteColorLookupTableData,
                                     .bluePaletteColorLookupTableData]
        var tables: [[UInt8]] = []
        var firsts: [Int] = []
        for (descriptorTag, dataTag) in zip(descriptorTags, dataTags) {
            guard let descriptor = dataSet[descriptorTag], let raw = descriptor.bytes, raw.count >= 6 else {
                if dataSet.contains(.segmentedRedPaletteColorLookupTableData) {
                    throw CodecError(.unsupported, "segmented palette color lookup tables are not supported")
                }
                throw CodecError(.unsupported, "PALETTE COLOR without a palette descriptor (\(descriptorTag.hexString))")
            }
            // The descriptor is US (or SS for the first mapped value): read as unsigned 16-bit words.
            let words = (0..<3).map { Int(raw[2 * $0]) | Int(raw[2 * $0 + 1]) << 8 }
            let entries = words[0] == 0 ? 65_536 : words[0]
            firsts.append(descriptor.vr == .SS && words[1] >= 0x8000 ? words[1] - 0x10000 : words[1])
            let bits = words[2]
            guard bits == 8 || bits == 16 else {
                throw CodecError(.unsupported, "palette entries of \(bits) bits are not supported (8 or 16)")
            }
            guard let element = dataSet[dataTag], case .bytes(let lazy) = element.value else {
                throw CodecError(.unsupported, "PALETTE COLOR without palette data (\(dataTag.hexString))")
            }
            let bytes: [UInt8]
            switch lazy {
            case .loaded(let slice): bytes = Array(slice)
            case .deferred(let reference):
                guard reference.length <= 2 * 65_536 else { throw CodecError(.unsupported, "the palette data is longer than 65,536 entries") }
                bytes = try load(reference)
            }
            var table = [UInt8](repeating: 0, count: entries)
            for index in 0..<entries {
                if bits == 16 {
                    // 16-bit entries: the high byte (tables are scaled to the full 16-bit range).
                    guard 2 * index + 1 < bytes.count else { break }
                    table[index] = bytes[2 * index + 1]
                } else if bytes.count >= 2 * entries {
                    // 8-bit entries are still stored one per 16-bit word (PS3.3 C.7.6.3.1.6 note).
                    table[index] = bytes[2 * index]
                } else {
                    guard index < bytes.count else { break }
                    table[index] = bytes[index]
                }
            }
            tables.append(table)
        }
        (red, green, blue, firstMapped) = (tables[0], tables[1], tables[2], firsts)
        bitsStored = max(1, min(16, dataSet.int(.bitsStored) ?? 16))
    }

    /// Index values (8- or 16-bit unsigned, little endian) to interleaved RGB.
    public func apply(_ frame: [UInt8], count: Int, bytesPerSample: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count * 3)
        let mask = (1 << bitsStored) - 1
        let tables = [red, green, blue]
        for i in 0..<min(count, frame.count / max(1, bytesPerSample)) {
            let value = (bytesPerSample == 1 ? Int(frame[i]) : Int(frame[2 * i]) | Int(frame[2 * i + 1]) << 8) & mask
            for channel in 0..<3 {
                let table = tables[channel]
                out[3 * i + channel] = table[min(table.count - 1, max(0, value - firstMapped[channel]))]
            }
        }
        return out
    }
}
