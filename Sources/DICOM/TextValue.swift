/// Turns the raw bytes of text VRs into values and back (PS3.5 §6.2: padding, backslash delimiters).
public enum TextValue {
    /// Decodes and splits a text value. Padding is trimmed as PS3.5 Table 6.2-1 says each VR's
    /// leading/trailing spaces are insignificant; UI values lose their trailing NUL.
    public static func decode(_ bytes: [UInt8], vr: VR, characterSet: SpecificCharacterSet) -> [String] {
        if bytes.isEmpty { return [] }
        if !vr.usesSpecificCharacterSet || !characterSet.usesCodeExtensions, bytes.allSatisfy({ $0 < 0x80 }) {
            return decodeASCII(bytes, vr: vr)
        }
        let text: String
        if vr.usesSpecificCharacterSet {
            text = characterSet.decode(bytes[...])
        } else if bytes.allSatisfy({ $0 < 0x80 }) {
            text = String(decoding: bytes, as: UTF8.self)
        } else {
            text = SpecificCharacterSet.default.decode(bytes[...])
        }
        let values: [Substring] = vr.isSingleValuedText
            ? [text[...]]
            : text.split(separator: "\\", omittingEmptySubsequences: false)
        return values.map { trim($0, vr: vr) }
    }

    /// The common case (ASCII text) on bytes, without Character processing.
    static func decodeASCII(_ bytes: [UInt8], vr: VR) -> [String] {
        let leadingSignificant = vr == .LT || vr == .ST || vr == .UT || vr == .UR || vr == .UC || vr == .PN
        func trimmed(_ value: ArraySlice<UInt8>) -> String {
            var start = value.startIndex, end = value.endIndex
            while end > start, value[end - 1] == 0x20 || value[end - 1] == 0x00 { end -= 1 }
            if !leadingSignificant { while start < end, value[start] == 0x20 { start += 1 } }
            return String(decoding: value[start..<end], as: UTF8.self)
        }
        if vr.isSingleValuedText { return [trimmed(bytes[...])] }
        return bytes.split(separator: 0x5C, omittingEmptySubsequences: false).map(trimmed)
    }

    static func trim(_ value: Substring, vr: VR) -> String {
        switch vr {
        case .UI:
            return String(value.trimmingSuffix { $0 == "\0" || $0 == " " }.trimmingPrefix { $0 == " " })
        case .LT, .ST, .UT, .UR, .UC:
            // Leading spaces are significant in these VRs; trailing ones (and stray NULs) are padding.
            return String(value.trimmingSuffix { $0 == " " || $0 == "\0" })
        case .PN:
            return String(value.trimmingSuffix { $0 == " " || $0 == "\0" })
        default:
            return String(value.trimmingSuffix { $0 == " " || $0 == "\0" }.trimmingPrefix { $0 == " " })
        }
    }

    /// Encodes values joined by backslashes, padded to even length with the VR's padding byte.
    public static func encode(_ values: [String], vr: VR, characterSet: SpecificCharacterSet) -> [UInt8] {
        let joined = values.joined(separator: "\\")
        var bytes: [UInt8] = vr.usesSpecificCharacterSet ? characterSet.encode(joined) : Array(joined.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr.paddingByte) }
        return bytes
    }
}

extension Substring {
    func trimmingSuffix(while predicate: (Character) -> Bool) -> Substring {
        var end = endIndex
        while end > startIndex {
            let previous = index(before: end)
            guard predicate(self[previous]) else { break }
            end = previous
        }
        return self[startIndex..<end]
    }

    func trimmingPrefix(while predicate: (Character) -> Bool) -> Substring {
        var start = startIndex
        while start < endIndex, predicate(self[start]) { start = index(after: start) }
        return self[start..<endIndex]
    }
}

extension String {
    /// Trims the NUL and space padding DICOM puts after UIDs and strings.
    public func trimmingDICOMPadding() -> String {
        String(self[...].trimmingSuffix { $0 == "\0" || $0 == " " }.trimmingPrefix { $0 == " " })
    }
}

/// Binary numeric values (held little endian) and IS/DS text as Swift numbers.
public enum NumericValue {
    /// Integers of a US, SS, UL, SL, SV, UV, IS (or US-like) element; nil for other VRs or bad text.
    public static func integers(_ bytes: [UInt8], vr: VR) -> [Int]? {
        switch vr {
        case .US, .OW: return read(bytes, size: 2) { Int(UInt16(truncatingIfNeeded: $0)) }
        case .SS: return read(bytes, size: 2) { Int(Int16(truncatingIfNeeded: $0)) }
        case .UL, .OL: return read(bytes, size: 4) { Int(UInt32(truncatingIfNeeded: $0)) }
        case .SL: return read(bytes, size: 4) { Int(Int32(truncatingIfNeeded: $0)) }
        case .SV: return read(bytes, size: 8) { Int(Int64(bitPattern: $0)) }
        case .UV: return read(bytes, size: 8) { Int(truncatingIfNeeded: $0) }
        case .IS:
            let texts = TextValue.decode(bytes, vr: .IS, characterSet: .default)
            var result: [Int] = []
            for text in texts where !text.isEmpty {
                guard let value = ValueParsing.integerString(text) else { return nil }
                result.append(value)
            }
            return result
        default: return nil
        }
    }

    /// Unsigned 64-bit values of a UV element (full range, unlike `integers`).
    public static func unsigned64(_ bytes: [UInt8]) -> [UInt64] {
        read(bytes, size: 8) { $0 }
    }

    /// Floats of an FL/FD/OF/OD element, or DS text.
    public static func doubles(_ bytes: [UInt8], vr: VR) -> [Double]? {
        switch vr {
        case .FL, .OF: return read(bytes, size: 4) { Double(Float(bitPattern: UInt32(truncatingIfNeeded: $0))) }
        case .FD, .OD: return read(bytes, size: 8) { Double(bitPattern: $0) }
        case .DS:
            var result: [Double] = []
            for text in TextValue.decode(bytes, vr: .DS, characterSet: .default) where !text.isEmpty {
                guard let value = ValueParsing.decimalString(text) else { return nil }
                result.append(value)
            }
            return result
        default: return nil
        }
    }

    /// Reads little-endian unsigned words of `size` bytes; a trailing partial word is ignored.
    static func read<T>(_ bytes: [UInt8], size: Int, _ transform: (UInt64) -> T) -> [T] {
        let count = bytes.count / size
        var result: [T] = []
        result.reserveCapacity(count)
        bytes.withUnsafeBufferPointer { buffer in
            for i in 0..<count {
                var value: UInt64 = 0
                for k in 0..<size { value |= UInt64(buffer[i * size + k]) << (8 * UInt64(k)) }
                result.append(transform(value))
            }
        }
        return result
    }

    /// Little-endian encoding of integers in `size`-byte words.
    public static func encode(_ values: [UInt64], size: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * size)
        for value in values {
            for k in 0..<size { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(k)))) }
        }
        return out
    }
}
