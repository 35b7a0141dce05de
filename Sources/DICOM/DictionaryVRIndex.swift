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
                var value: UInt32 = 0
                var mask: UInt32 = 0
                for i in lineStart..<(lineStart + 8) {
                    value <<= 4
                    mask <<= 4
                    if let digit = hexDigitValue(bytes[i]) {
                        value |= UInt32(digit)
                        mask |= 0xF
                    }
                }
                // VR column: two-letter VRs separated by " or " (or "NONE" for items).
                var vrs: [VR] = []
                var i = lineStart + 9
                while i + 1 < bytes.count, bytes[i] != 0x7C {
                    if let vr = VR(byte0: bytes[i], byte1: bytes[i + 1]), bytes[i + 2] == 0x20 || bytes[i + 2] == 0x7C {
                        vrs.append(vr)
                    }
                    while i < bytes.count, bytes[i] != 0x20, bytes[i] != 0x7C { i += 1 }
                    while i < bytes.count, bytes[i] == 0x20 { i += 1 }
                }
                let packed = DictionaryVRs(vrs)
                if mask == 0xFFFF_FFFF {
                    index.tags.append(value)
                    index.vrs.append(packed)
                } else {
                    index.repeaters.append((value, mask, packed))
                }
                while i < bytes.count, bytes[i] != 0x0A { i += 1 }
                lineStart = i + 1
            }
        }
        return index
    }()
}
