/// A DICOM attribute tag: (group, element), ordered as the standard orders data elements.
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let group: UInt16
    public let element: UInt16

    public init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    public init(rawValue: UInt32) {
        self.init(UInt16(truncatingIfNeeded: rawValue >> 16), UInt16(truncatingIfNeeded: rawValue))
    }

    /// Parses `GGGGEEEE` (8 hex digits), as DICOM JSON keys and QIDO query keys spell tags.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 8, hex.utf8.allSatisfy({ hexDigitValue($0) != nil }),
              let value = UInt32(hex, radix: 16) else { return nil }
        self.init(rawValue: value)
    }

    public var rawValue: UInt32 { UInt32(group) << 16 | UInt32(element) }

    /// Private tags live in odd groups (PS3.5 §7.8.1).
    public var isPrivate: Bool { group & 1 == 1 }

    /// (gggg,0010-00FF) in an odd group reserves a block of private elements.
    public var isPrivateCreator: Bool { isPrivate && element >= 0x0010 && element <= 0x00FF }

    /// The element number of the Private Creator that reserves this private element's block.
    public var privateCreatorTag: Tag? {
        guard isPrivate, element >= 0x1000 else { return nil }
        return Tag(group, element >> 8)
    }

    /// Group length elements (gggg,0000) are retired outside the file meta group.
    public var isGroupLength: Bool { element == 0 }

    /// `GGGGEEEE` in upper-case hex, the DICOM JSON key form.
    public var hexString: String {
        // Written in place: this runs for every element of every JSON response.
        String(unsafeUninitializedCapacity: 8) { buffer in
            var v = rawValue
            for i in stride(from: 7, through: 0, by: -1) {
                let nibble = UInt8(v & 0xF)
                buffer[i] = nibble < 10 ? 0x30 + nibble : 0x37 + nibble
                v >>= 4
            }
            return 8
        }
    }

    /// `(GGGG,EEEE)`, as dcmdump and the standard print tags.
    public var description: String {
        let hex = hexString
        return "(\(hex.prefix(4)),\(hex.suffix(4)))"
    }

    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension Tag {
    /// Keyword lookup: `Tag(keyword: "PatientName")`; nil for unknown or repeating-group keywords.
    public init?(keyword: String) {
        guard let entry = DataDictionary.entry(forKeyword: keyword), let tag = entry.fixedTag else { return nil }
        self = tag
    }
}
