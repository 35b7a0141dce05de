import Foundation

/// The character repertoires of Specific Character Set (0008,0005), PS3.3 C.12.1.1.2,
/// and decoding of text values with them, including ISO 2022 code extensions (PS3.5 §6.1.2.5).
///
/// Foundation's string encodings do the per-repertoire byte→character work; this type picks the
/// repertoire, follows the escape sequences and tracks G0/G1 designations.
public struct SpecificCharacterSet: Hashable, Sendable, CustomStringConvertible {
    /// The defined terms as written, e.g. `["", "ISO 2022 IR 87"]`.
    public let terms: [String]

    /// The default repertoire (ISO-IR 6, ASCII), used when (0008,0005) is absent.
    public static let `default` = SpecificCharacterSet(terms: [])
    public static let utf8 = SpecificCharacterSet(terms: ["ISO_IR 192"])

    public init(terms: [String]) {
        self.terms = terms.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// From the raw bytes of (0008,0005).
    public init(rawValue bytes: [UInt8]) {
        // Byte-level split and trim: this runs once per dataset on the index's hot path.
        terms = bytes.split(separator: 0x5C, omittingEmptySubsequences: false).map { term in
            var start = term.startIndex, end = term.endIndex
            while start < end, term[start] == 0x20 { start += 1 }
            while end > start, term[end - 1] == 0x20 || term[end - 1] == 0x00 { end -= 1 }
            return String(decoding: term[start..<end], as: UTF8.self)
        }
    }

    public var description: String { terms.joined(separator: "\\") }

    /// True when code extensions (escape sequences) may appear in values.
    public var usesCodeExtensions: Bool { terms.contains { $0.hasPrefix("ISO 2022") } || terms.count > 1 }

    /// Terms MiniVNA does not recognise (their text is decoded as Latin-1, as a lenient reader does).
    public var unknownTerms: [String] {
        terms.filter { !$0.isEmpty && Repertoire(term: $0) == nil }
    }

    // MARK: Decoding

    /// Decodes one text value (or several joined by backslashes: delimiters survive decoding).
    public func decode(_ bytes: ArraySlice<UInt8>) -> String {
        if bytes.isEmpty { return "" }
        if !usesCodeExtensions {
            // Fast path: UTF-8, or ASCII bytes in a set whose G0 is ASCII (not JIS X 0201's).
            if terms.first == "ISO_IR 192" || (terms.first != "ISO_IR 13" && bytes.allSatisfy({ $0 < 0x80 })) {
                return String(decoding: bytes, as: UTF8.self)
            }
            let repertoire = terms.first.flatMap { Repertoire(term: $0) } ?? .ascii
            return repertoire.decode(bytes)
        }
        return decodeWithCodeExtensions(bytes)
    }

    public func decode(_ bytes: [UInt8]) -> String { decode(bytes[...]) }

    /// ISO 2022: split at escape sequences; each run is decoded with the G0/G1 sets designated.
    private func decodeWithCodeExtensions(_ bytes: ArraySlice<UInt8>) -> String {
        let initial = InitialDesignation(firstTerm: terms.first ?? "")
        var g0 = initial.g0
        var g1 = initial.g1
        var result = ""
        var runStart = bytes.startIndex
        var i = bytes.startIndex

        func flush(upTo end: Int) {
            if runStart < end {
                result += Self.decodeRun(bytes[runStart..<end], g0: g0, g1: g1)
            }
        }

        while i < bytes.endIndex {
            let byte = bytes[i]
            if byte == 0x1B, let (designation, length) = Self.escapeSequence(in: bytes, at: i) {
                flush(upTo: i)
                switch designation {
                case .g0(let r): g0 = r
                case .g1(let r): g1 = r
                }
                i += length
                runStart = i
                continue
            }
            // Delimiters return G0 to the initial set when G0 is single-byte (PS3.5 §6.1.2.5.3):
            // a multi-byte G0 uses 0x21...0x7E in pairs, where these bytes are part of characters.
            if !g0.isMultiByte, byte == 0x5C || byte == 0x0D || byte == 0x0A || byte == 0x09 || byte == 0x0C,
               g0 != initial.g0 || g1 != initial.g1 {
                flush(upTo: i)
                g0 = initial.g0
                g1 = initial.g1
                runStart = i
            }
            i += 1
        }
        flush(upTo: bytes.endIndex)
        return result
    }

    private static func decodeRun(_ run: ArraySlice<UInt8>, g0: Repertoire, g1: Repertoire?) -> String {
        if g0.isMultiByte {
            return g0.decode(run)
        }
        // Single-byte G0 (ASCII or JIS X 0201 romaji): bytes ≥ 0x80 belong to G1.
        guard let g1, run.contains(where: { $0 >= 0x80 }) else { return g0.decode(run) }
        return g1.decode(run)
    }

    private enum Designation { case g0(Repertoire), g1(Repertoire) }

    /// Recognises the escape sequences of PS3.3 Table C.12-3/C.12-4 at `index`.
    private static func escapeSequence(in bytes: ArraySlice<UInt8>, at index: Int) -> (Designation, Int)? {
        func byte(_ k: Int) -> UInt8? { index + k < bytes.endIndex ? bytes[index + k] : nil }
        switch (byte(1), byte(2), byte(3)) {
        case (0x28, 0x42, _): return (.g0(.ascii), 3)              // ESC ( B  ISO-IR 6
        case (0x28, 0x4A, _): return (.g0(.jisX0201Romaji), 3)     // ESC ( J  ISO-IR 14
        case (0x29, 0x49, _): return (.g1(.jisX0201Katakana), 3)   // ESC ) I  ISO-IR 13
        case (0x24, 0x42, _): return (.g0(.jisX0208), 3)           // ESC $ B  ISO-IR 87
        case (0x24, 0x28, 0x44): return (.g0(.jisX0212), 4)        // ESC $ ( D  ISO-IR 159
        case (0x24, 0x29, 0x43): return (.g1(.ksX1001), 4)         // ESC $ ) C  ISO-IR 149
        case (0x24, 0x29, 0x41): return (.g1(.gb2312), 4)          // ESC $ ) A  ISO-IR 58
        case (0x2D, let final?, _):                                 // ESC - F  96-char G1 sets
            let sets: [UInt8: Repertoire] = [
                0x41: .latin1, 0x42: .latin2, 0x43: .latin3, 0x44: .latin4, 0x4C: .cyrillic, 0x47: .arabic,
                0x46: .greek, 0x48: .hebrew, 0x4D: .latin5, 0x54: .thai, 0x62: .latin9,
            ]
            guard let repertoire = sets[final] else { return nil }
            return (.g1(repertoire), 3)
        default:
            return nil
        }
    }

    // MARK: Encoding

    /// Encodes text for writing in this character set. With ISO 2022 code extensions, each run of
    /// characters goes to the first defined term that can hold it, with its escape sequence, and
    /// G0/G1 return to the initial sets before every delimiter (PS3.5 §6.1.2.5.3, Annex H/I).
    /// Text the character set cannot hold at all is encoded as UTF-8 only when the set is UTF-8;
    /// otherwise unencodable characters become "?" (the caller should write ISO_IR 192 instead).
    public func encode(_ text: String) -> [UInt8] {
        // ASCII is the same bytes in every G0 but JIS X 0201's (and in UTF-8).
        if terms.first != "ISO_IR 13", text.utf8.allSatisfy({ $0 < 0x80 }) { return Array(text.utf8) }
        if !usesCodeExtensions {
            let repertoire = terms.first.flatMap { Repertoire(term: $0) } ?? .ascii
            return repertoire.encode(text)
        }
        let initial = InitialDesignation(firstTerm: terms.first ?? "")
        let repertoires = terms.compactMap { Repertoire(term: $0) }
        var out: [UInt8] = []
        var g0 = initial.g0
        var g1 = initial.g1
        for character in text {
            let scalarText = String(character)
            if character.isASCII {
                let byte = character.asciiValue!
                let isDelimiter = byte == 0x5C || byte == 0x5E || byte == 0x3D || byte == 0x0D || byte == 0x0A || byte == 0x09 || byte == 0x0C
                if g0 != .ascii && g0 != .jisX0201Romaji || (isDelimiter && g0 != initial.g0) {
                    out += [0x1B, 0x28, 0x42] // ESC ( B
                    g0 = .ascii
                }
                if isDelimiter { g0 = initial.g0; g1 = initial.g1 }
                out.append(byte)
                continue
            }
            var encoded = false
            for repertoire in repertoires where repertoire != .ascii {
                guard let bytes = repertoire.encodeCharacter(scalarText) else { continue }
                if repertoire.isMultiByte {
                    if g0 != repertoire { out += repertoire.escapeSequence; g0 = repertoire }
                } else if g1 != repertoire {
                    out += repertoire.escapeSequence
                    g1 = repertoire
                }
                out += bytes
                encoded = true
                break
            }
            if !encoded { out.append(0x3F) }
        }
        if g0 != initial.g0 { out += [0x1B, 0x28, 0x42] }
        return out
    }
}

/// The G0/G1 sets in force at the start of every value, set by the first defined term.
private struct InitialDesignation {
    let g0: Repertoire
    let g1: Repertoire?

    init(firstTerm: String) {
        let repertoire = Repertoire(term: firstTerm) ?? .ascii
        switch repertoire {
        case .ascii: (g0, g1) = (.ascii, nil)
        case .jisX0201Katakana, .jisX0201Romaji: (g0, g1) = (.jisX0201Romaji, .jisX0201Katakana)
        case .jisX0208, .jisX0212: (g0, g1) = (repertoire, nil)
        default: (g0, g1) = (.ascii, repertoire)
        }
    }
}

/// One character repertoire and how Foundation decodes it.
enum Repertoire: Hashable, Sendable {
    case ascii, latin1, latin2, latin3, latin4, cyrillic, arabic, greek, hebrew, latin5, thai, latin9
    case jisX0201Romaji, jisX0201Katakana, jisX0208, jisX0212, ksX1001, gb2312
    case utf8, gb18030, gbk

    /// Maps a defined term (with or without ISO 2022) to its repertoire.
    init?(term: String) {
        // Plain prefix drops: this runs for every text value encoded or decoded.
        let number: Substring
        if term.hasPrefix("ISO 2022 IR ") {
            number = term.dropFirst(12)
        } else if term.hasPrefix("ISO_IR ") {
            number = term.dropFirst(7)
        } else {
            number = term[...]
        }
        switch term {
        case "", "ISO_IR 6", "ISO 2022 IR 6": self = .ascii
        case "ISO_IR 192": self = .utf8
        case "GB18030": self = .gb18030
        case "GBK": self = .gbk
        default:
            switch number {
            case "100": self = .latin1
            case "101": self = .latin2
            case "109": self = .latin3
            case "110": self = .latin4
            case "144": self = .cyrillic
            case "127": self = .arabic
            case "126": self = .greek
            case "138": self = .hebrew
            case "148": self = .latin5
            case "166": self = .thai
            case "203": self = .latin9
            case "13": self = .jisX0201Katakana
            case "14": self = .jisX0201Romaji
            case "87": self = .jisX0208
            case "159": self = .jisX0212
            case "149": self = .ksX1001
            case "58": self = .gb2312
            default: return nil
            }
        }
    }

    var isMultiByte: Bool { self == .jisX0208 || self == .jisX0212 }

    /// Foundation encodings; ISO 8859 parts beyond 1 and 2 are CFString encodings
    /// (kCFStringEncodingISOLatin3 = 0x0203 ...), reachable by their NSStringEncoding raw values.
    private var encoding: String.Encoding {
        func cf(_ value: UInt) -> String.Encoding { String.Encoding(rawValue: 0x8000_0000 | value) }
        switch self {
        case .ascii: return .ascii
        case .latin1: return .isoLatin1
        case .latin2: return .isoLatin2
        case .latin3: return cf(0x0203)
        case .latin4: return cf(0x0204)
        case .cyrillic: return cf(0x0205)
        case .arabic: return cf(0x0206)
        case .greek: return cf(0x0207)
        case .hebrew: return cf(0x0208)
        case .latin5: return cf(0x0209)
        case .thai: return cf(0x020B)
        case .latin9: return cf(0x020F)
        case .jisX0201Romaji, .jisX0201Katakana: return .shiftJIS
        case .jisX0208, .jisX0212: return cf(0x0821) // ISO-2022-JP-1
        case .ksX1001: return cf(0x0940)      // EUC-KR
        case .gb2312, .gb18030: return cf(0x0632)
        case .gbk: return cf(0x0631)
        case .utf8: return .utf8
        }
    }

    func decode(_ bytes: ArraySlice<UInt8>) -> String {
        switch self {
        case .ascii:
            // Lenient: bytes outside ASCII in a default-repertoire file are read as Latin-1,
            // as most archives and pydicom do.
            if !bytes.contains(where: { $0 >= 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
            return String(bytes.map { Character(Unicode.Scalar($0)) })
        case .utf8:
            return String(decoding: bytes, as: UTF8.self)
        case .jisX0208, .jisX0212:
            // Foundation on Linux has no EUC-JP, but decodes ISO-2022-JP-1: re-attach the designation.
            let designation: [UInt8] = self == .jisX0208 ? [0x1B, 0x24, 0x42] : [0x1B, 0x24, 0x28, 0x44]
            let stream = designation + Array(bytes) + [0x1B, 0x28, 0x42]
            return String(bytes: stream, encoding: encoding) ?? Self.latin1Fallback(bytes)
        default:
            if !bytes.contains(where: { $0 >= 0x80 }), self != .jisX0201Romaji {
                return String(decoding: bytes, as: UTF8.self)
            }
            return String(bytes: Array(bytes), encoding: encoding) ?? Self.latin1Fallback(bytes)
        }
    }

    /// The escape sequence designating this set (G0 for the multi-byte JIS sets, G1 otherwise).
    var escapeSequence: [UInt8] {
        switch self {
        case .ascii: return [0x1B, 0x28, 0x42]
        case .jisX0201Romaji: return [0x1B, 0x28, 0x4A]
        case .jisX0201Katakana: return [0x1B, 0x29, 0x49]
        case .jisX0208: return [0x1B, 0x24, 0x42]
        case .jisX0212: return [0x1B, 0x24, 0x28, 0x44]
        case .ksX1001: return [0x1B, 0x24, 0x29, 0x43]
        case .gb2312: return [0x1B, 0x24, 0x29, 0x41]
        case .latin1: return [0x1B, 0x2D, 0x41]
        case .latin2: return [0x1B, 0x2D, 0x42]
        case .latin3: return [0x1B, 0x2D, 0x43]
        case .latin4: return [0x1B, 0x2D, 0x44]
        case .cyrillic: return [0x1B, 0x2D, 0x4C]
        case .arabic: return [0x1B, 0x2D, 0x47]
        case .greek: return [0x1B, 0x2D, 0x46]
        case .hebrew: return [0x1B, 0x2D, 0x48]
        case .latin5: return [0x1B, 0x2D, 0x4D]
        case .thai: return [0x1B, 0x2D, 0x54]
        case .latin9: return [0x1B, 0x2D, 0x62]
        case .utf8, .gb18030, .gbk: return []
        }
    }

    /// The bytes of one non-ASCII character in this set as ISO 2022 carries them (7-bit pairs for
    /// JIS X 0208/0212, high-bit bytes for G1 sets); nil when the set does not hold it.
    func encodeCharacter(_ character: String) -> [UInt8]? {
        switch self {
        case .jisX0208, .jisX0212:
            guard let data = character.data(using: encoding) else { return nil }
            // ISO-2022-JP-1 output: ESC designation, 7-bit pair, ESC ( B.
            let bytes = [UInt8](data)
            let designation = escapeSequence
            guard bytes.count == designation.count + 2 + 3, Array(bytes.prefix(designation.count)) == designation else { return nil }
            return Array(bytes[designation.count..<(designation.count + 2)])
        case .jisX0201Katakana:
            guard let data = character.data(using: encoding), data.count == 1, (0xA1...0xDF).contains(data[data.startIndex]) else { return nil }
            return [UInt8](data)
        case .ksX1001, .gb2312:
            guard let data = character.data(using: encoding), data.count == 2, data.allSatisfy({ $0 >= 0xA1 }) else { return nil }
            return [UInt8](data)
        case .ascii, .jisX0201Romaji, .utf8, .gb18030, .gbk:
            return nil
        default:
            guard let data = character.data(using: encoding), data.count == 1, data[data.startIndex] >= 0xA0 else { return nil }
            return [UInt8](data)
        }
    }

    func encode(_ text: String) -> [UInt8] {
        if self == .utf8 || text.utf8.allSatisfy({ $0 < 0x80 }) { return Array(text.utf8) }
        if let data = text.data(using: encoding) { return [UInt8](data) }
        // Characters this repertoire cannot hold become "?" one by one (never mislabelled UTF-8).
        var out: [UInt8] = []
        for character in text {
            out += String(character).data(using: encoding).map { [UInt8]($0) } ?? [0x3F]
        }
        return out
    }

    private static func latin1Fallback(_ bytes: ArraySlice<UInt8>) -> String {
        String(bytes.map { Character(Unicode.Scalar($0)) })
    }
}
