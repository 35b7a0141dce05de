/// The VR(s) PS3.6 lists for an element, packed: what the parser needs per element, without
/// building the full dictionary (names, keywords), which costs milliseconds on first use.
public struct DictionaryVRs: Hashable, Sendable {
    /// Up to three VR indexes + 1, one per byte (0 = none).
    let packed: UInt32

    init(_ vrs: [VR]) {
        var packed: UInt32 = 0
        for (i, vr) in vrs.prefix(3).enumerated() {
            packed |= UInt32(VR.allCases.firstIndex(of: vr)! + 1) << (8 * UInt32(i))
        }
        self.packed = packed
    }

    public var all: [VR] {
        (0..<3).compactMap { i in
            let code = Int(packed >> (8 * UInt32(i)) & 0xFF)
            return code == 0 ? nil : VR.allCases[code - 1]
        }
    }

    /// The VR to assume when the encoding does not say: the first listed (UN for items).
    public var first: VR {
        let code = Int(packed & 0xFF)
        return code == 0 ? .UN : VR.allCases[code - 1]
    }

    public var isAmbiguous: Bool { packed > 0xFF }
    public var isEmpty: Bool { packed == 0 }
    public func contains(_ vr: VR) -> Bool { all.contains(vr) }
}

extension DataDictionary {
    /// The dictionary's VRs for a tag (repeating groups included); nil for private and unknown tags.
    public static func vrs(for tag: Tag) -> DictionaryVRs? {
        let index = vrIndex
        var low = 0
        var high = index.tags.count
        let raw = tag.rawValue
        while low < high {
            let mid = (low + high) / 2
            let value = index.tags[mid]
            if value == raw { return index.vrs[mid] }
            if value < raw { low = mid + 1 } else { high = mid }
        }
        if tag.isPrivate { return nil }
        if tag.element == 0 { return DictionaryVRs([.UL]) }
        for repeater in index.repeaters where raw & repeater.mask == repeater.value {
            return repeater.vrs
        }
        return nil
    }

    private struct VRIndex: Sendable {
        var tags: [UInt32] = []
        var vrs: [DictionaryVRs] = []
        var repeaters: [(value: UInt32, mask: UInt32, vrs: DictionaryVRs)] = []
    }

    /// Sorted tags and their VRs, from the tag and VR columns of the table only.
    private static let vrIndex: VRIndex = {
        var index = VRIndex()
        index.tags.reserveCapacity(5_200)
        index.vrs.reserveCapacity(5_200)
        var table = DataDictionary.table
        table.withUTF8 { bytes in
            var lineStart = 0
            while lineStart + 11 < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count, bytes[lineEnd] != 0x0A { lineEnd += 1 }
                var vrEnd = lineStart + 9
                while vrEnd < lineEnd, bytes[vrEnd] != 0x7C { vrEnd += 1 }
                let (value, mask) = DictionaryTable.tagPattern(bytes, lineStart..<(lineStart + 8))
                let vrs = DictionaryTable.vrs(bytes, (lineStart + 9)..<vrEnd)
                let packed = DictionaryVRs(vrs)
                if mask == 0xFFFF_FFFF {
                    index.tags.append(value)
                    index.vrs.append(packed)
                } else {
                    index.repeaters.append((value, mask, packed))
                }
                lineStart = lineEnd + 1
            }
        }
        if !zip(index.tags, index.tags.dropFirst()).allSatisfy({ $0 < $1 }) {
            // The generator writes the table in tag order; stay correct if someone edits it by hand.
            let order = index.tags.indices.sorted { index.tags[$0] < index.tags[$1] }
            index.tags = order.map { index.tags[$0] }
            index.vrs = order.map { index.vrs[$0] }
        }
        return index
    }()
}

/// Field parsers shared by the two indexes over the generated table.
enum DictionaryTable {
    /// `0010xxxx`-style tag column → the pattern (x nibbles zero) and the mask of fixed nibbles.
    static func tagPattern(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> (value: UInt32, mask: UInt32) {
        var value: UInt32 = 0
        var mask: UInt32 = 0
        for i in range {
            value <<= 4
            mask <<= 4
            if let digit = hexDigitValue(bytes[i]) {
                value |= UInt32(digit)
                mask |= 0xF
            }
        }
        return (value, mask)
    }

    /// VR column: "US", "US or SS", "US or SS or OW", or "NONE" (items) → the listed VRs.
    static func vrs(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [VR] {
        var result: [VR] = []
        var wordStart = range.lowerBound
        for i in range.lowerBound...range.upperBound where i == range.upperBound || bytes[i] == 0x20 {
            if i - wordStart == 2, let vr = VR(byte0: bytes[wordStart], byte1: bytes[wordStart + 1]) {
                result.append(vr)
            }
            wordStart = i + 1
        }
        return result
    }
}
