/// The PS3.6 data dictionary: tag ↔ keyword, name, VR and VM of every public element.
///
/// The table itself is generated (`Generated/DataDictionary+Table.swift`); this file indexes it.
public enum DataDictionary {
    /// One dictionary row.
    public struct Entry: Sendable, Hashable {
        /// The tag, or for a repeating-group element (`60xx3000`) the pattern with x nibbles zero.
        public let tagPattern: UInt32
        /// Bits of the tag that must match `tagPattern` (0xFFFFFFFF for fixed tags).
        public let mask: UInt32
        /// Allowed VRs in the standard's order; several for `US or SS`, `OB or OW`; empty for items.
        public let vrs: [VR]
        public let vm: String
        public let isRetired: Bool
        public let keyword: String
        public let name: String

        /// The VR a reader uses when the encoding does not say (implicit VR): the first listed.
        public var vr: VR { vrs.first ?? .UN }
        /// True when PS3.6 lists more than one VR and context decides (PS3.5 Annex A.1).
        public var isAmbiguous: Bool { vrs.count > 1 }
        /// The tag for a non-repeating entry.
        public var fixedTag: Tag? { mask == 0xFFFF_FFFF ? Tag(rawValue: tagPattern) : nil }
    }

    /// Looks up a tag; repeating groups (50xx, 60xx, 7Fxx, …) match their pattern.
    /// Private tags and group lengths other than the file meta group's have no entry
    /// (group lengths are answered as UL, as PS3.5 §7.2 defines them).
    public static func entry(for tag: Tag) -> Entry? {
        if let entry = index.byTag[tag.rawValue] { return entry }
        if tag.isPrivate { return nil }
        if tag.element == 0 {
            return Entry(tagPattern: tag.rawValue, mask: 0xFFFF_FFFF, vrs: [.UL], vm: "1",
                         isRetired: true, keyword: "", name: "Group Length")
        }
        for repeater in index.repeaters where tag.rawValue & repeater.mask == repeater.tagPattern {
            return repeater
        }
        return nil
    }

    public static func entry(forKeyword keyword: String) -> Entry? {
        index.byKeyword[keyword]
    }

    /// The keyword for a tag, or nil for private and unknown tags.
    public static func keyword(for tag: Tag) -> String? {
        guard let keyword = entry(for: tag)?.keyword, !keyword.isEmpty else { return nil }
        return keyword
    }

    /// The VR to assume when the encoding does not carry one (Implicit VR Little Endian).
    public static func implicitVR(for tag: Tag) -> VR {
        if tag.isPrivateCreator { return .LO }
        return vrs(for: tag)?.first ?? .UN
    }

    public static var allEntries: [Entry] { index.all }

    private struct Index: Sendable {
        var all: [Entry] = []
        var byTag: [UInt32: Entry] = [:]
        var byKeyword: [String: Entry] = [:]
        var repeaters: [Entry] = []
    }

    /// Built once, on first use, by one pass over the table's UTF-8 bytes (a few milliseconds;
    /// the first implicit-VR file pays it, so it must stay cheap).
    private static let index: Index = {
        var index = Index()
        index.all.reserveCapacity(5_200)
        index.byTag.reserveCapacity(5_200)
        index.byKeyword.reserveCapacity(5_200)
        var table = DataDictionary.table
        table.withUTF8 { bytes in
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count, bytes[lineEnd] != 0x0A { lineEnd += 1 }
                if let entry = parseLine(bytes, lineStart, lineEnd) {
                    index.all.append(entry)
                    if entry.mask == 0xFFFF_FFFF {
                        index.byTag[entry.tagPattern] = entry
                    } else {
                        index.repeaters.append(entry)
                    }
                    if !entry.keyword.isEmpty, index.byKeyword[entry.keyword] == nil {
                        index.byKeyword[entry.keyword] = entry
                    }
                }
                lineStart = lineEnd + 1
            }
        }
        return index
    }()

    /// `tag|vr|vm|retired|keyword|name` → Entry.
    private static func parseLine(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Entry? {
        var fields: [Range<Int>] = []
        fields.reserveCapacity(6)
        var fieldStart = start
        for i in start..<end where bytes[i] == 0x7C && fields.count < 5 {
            fields.append(fieldStart..<i)
            fieldStart = i + 1
        }
        fields.append(fieldStart..<end)
        guard fields.count == 6, fields[0].count == 8 else { return nil }
        let (value, mask) = DictionaryTable.tagPattern(bytes, fields[0])
        let vrs = DictionaryTable.vrs(bytes, fields[1])
        func text(_ range: Range<Int>) -> String {
            String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }
        return Entry(tagPattern: value, mask: mask, vrs: vrs, vm: text(fields[2]),
                     isRetired: fields[3].count == 1, keyword: text(fields[4]), name: text(fields[5]))
    }
}

@inline(__always)
func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: return c - 0x30
    case 0x41...0x46: return c - 0x41 + 10
    case 0x61...0x66: return c - 0x61 + 10
    default: return nil
    }
}
