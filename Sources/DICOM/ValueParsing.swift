import Foundation

/// A DA value (PS3.5 Table 6.2-1): YYYYMMDD.
public struct DICOMDate: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let year: Int, month: Int, day: Int

    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), (1...DICOMDate.daysIn(month: month, year: year)).contains(day) else { return nil }
        self.year = year; self.month = month; self.day = day
    }

    /// Parses `YYYYMMDD`, and leniently the ACR-NEMA form `YYYY.MM.DD`.
    public init?(_ text: String) {
        let digits = text.count == 10 && text.dropFirst(4).first == "." ? text.replacingOccurrences(of: ".", with: "") : text
        guard digits.utf8.count == 8, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let y = Int(digits.prefix(4)), let m = Int(digits.dropFirst(4).prefix(2)), let d = Int(digits.suffix(2))
        else { return nil }
        self.init(year: y, month: m, day: d)
    }

    public var description: String { String(format: "%04d%02d%02d", year, month, day) }

    public static func < (a: DICOMDate, b: DICOMDate) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

/// A TM value: HH[MM[SS[.F{1-6}]]]; omitted components stay nil (they are a range, not zero).
public struct DICOMTime: Hashable, Sendable, CustomStringConvertible {
    public let hour: Int
    public let minute: Int?
    public let second: Int?
    /// Fractional seconds in microseconds, when present.
    public let microsecond: Int?

    /// Parses `HH`, `HHMM`, `HHMMSS`, `HHMMSS.FFFFFF`, and leniently `HH:MM:SS` (ACR-NEMA).
    public init?(_ text: String) {
        let raw = text.contains(":") ? text.replacingOccurrences(of: ":", with: "") : text
        let parts = raw.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let main = parts[0]
        guard [2, 4, 6].contains(main.utf8.count), main.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let numbers = stride(from: 0, to: main.utf8.count, by: 2).map { i in
            Int(main.dropFirst(i).prefix(2))!
        }
        guard numbers[0] < 24 else { return nil }
        hour = numbers[0]
        minute = numbers.count > 1 ? numbers[1] : nil
        second = numbers.count > 2 ? numbers[2] : nil
        if let m = minute, m > 59 { return nil }
        if let s = second, s > 60 { return nil } // 60 allows a leap second
        if parts.count == 2 {
            let fraction = parts[1]
            guard numbers.count == 3, (1...6).contains(fraction.utf8.count),
                  fraction.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let f = Int(fraction) else { return nil }
            var micro = f
            for _ in fraction.utf8.count..<6 { micro *= 10 }
            microsecond = micro
        } else {
            microsecond = nil
        }
    }

    public var description: String {
        var s = String(format: "%02d", hour)
        if let minute { s += String(format: "%02d", minute) }
        if let second { s += String(format: "%02d", second) }
        if let microsecond { s += String(format: ".%06d", microsecond) }
        return s
    }
}

/// A DT value: YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX].
public struct DICOMDateTime: Hashable, Sendable {
    public let year: Int
    public let month: Int?
    public let day: Int?
    public let time: DICOMTime?
    /// Offset from UTC in minutes, when the value carries `&ZZXX`.
    public let utcOffsetMinutes: Int?

    public init?(_ text: String) {
        var body = Substring(text)
        var offset: Int?
        if let signIndex = body.lastIndex(where: { $0 == "+" || $0 == "-" }), signIndex != body.startIndex {
            let zone = body[signIndex...]
            guard zone.utf8.count == 5, zone.dropFirst().utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let hh = Int(zone.dropFirst().prefix(2)), let mm = Int(zone.suffix(2)), mm < 60 else { return nil }
            let minutes = (hh * 60 + mm) * (zone.first == "-" ? -1 : 1)
            guard (-12 * 60)...(14 * 60) ~= minutes else { return nil } // PS3.5: -1200 to +1400
            offset = minutes
            body = body[..<signIndex]
        }
        let dateDigits = body.prefix { $0 != "." }.prefix(8)
        guard [4, 6, 8].contains(dateDigits.utf8.count), dateDigits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        year = Int(dateDigits.prefix(4))!
        month = dateDigits.utf8.count >= 6 ? Int(dateDigits.dropFirst(4).prefix(2)) : nil
        day = dateDigits.utf8.count == 8 ? Int(dateDigits.dropFirst(6).prefix(2)) : nil
        if let month, !(1...12).contains(month) { return nil }
        if let month, let day, DICOMDate(year: year, month: month, day: day) == nil { return nil }
        let rest = body.dropFirst(dateDigits.utf8.count)
        if rest.isEmpty {
            time = nil
        } else {
            guard dateDigits.utf8.count == 8, let t = DICOMTime(String(rest)) else { return nil }
            time = t
        }
        utcOffsetMinutes = offset
    }
}

/// Parsing helpers for numeric strings, AT and UIDs.
public enum ValueParsing {
    /// IS: an optionally signed integer of at most 12 characters (leniently: surrounding spaces).
    public static func integerString(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty, t.utf8.count <= 16 else { return nil }
        return Int(t) // accepts one leading + or -
    }

    /// DS: a fixed or floating point decimal string (PS3.5 Table 6.2-1). Rejects NaN and infinity.
    public static func decimalString(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty, t.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E || $0 == 0x45 || $0 == 0x65 }),
              let v = Double(t), v.isFinite else { return nil }
        return v
    }

    /// AT values (pairs of 16-bit group/element, little endian) as tags.
    public static func attributeTags(_ bytes: [UInt8]) -> [Tag] {
        NumericValue.read(bytes, size: 4) { (word: UInt64) -> Tag in
            Tag(UInt16(truncatingIfNeeded: word), UInt16(truncatingIfNeeded: word >> 16))
        }
    }

    public static func encodeAttributeTags(_ tags: [Tag]) -> [UInt8] {
        tags.flatMap { t in
            [UInt8(t.group & 0xFF), UInt8(t.group >> 8), UInt8(t.element & 0xFF), UInt8(t.element >> 8)]
        }
    }
}

/// UIDs (PS3.5 §9): validation and generation under the 2.25 (UUID-derived) root.
public enum UID {
    /// True for a well-formed UID: ≤ 64 chars, dot-separated numeric components without leading zeros.
    public static func isValid(_ uid: String) -> Bool {
        guard !uid.isEmpty, uid.utf8.count <= 64 else { return false }
        for component in uid.split(separator: ".", omittingEmptySubsequences: false) {
            guard !component.isEmpty, component.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
            if component.utf8.count > 1 && component.first == "0" { return false }
        }
        return true
    }

    /// A new UID `2.25.<UUID as a decimal integer>` (PS3.5 §B.2), from a random (v4) UUID.
    public static func generate() -> String {
        fromUUID(UUID())
    }

    /// The 2.25 UID of a given UUID: its 128 bits as an unsigned decimal number.
    public static func fromUUID(_ uuid: UUID) -> String {
        let u = uuid.uuid
        let bytes = [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
        // 128-bit number as four 32-bit limbs, big endian; repeated division by 10 gives the digits.
        var limbs: [UInt64] = stride(from: 0, to: 16, by: 4).map { i in
            UInt64(bytes[i]) << 24 | UInt64(bytes[i + 1]) << 16 | UInt64(bytes[i + 2]) << 8 | UInt64(bytes[i + 3])
        }
        var digits: [UInt8] = []
        while limbs.contains(where: { $0 != 0 }) {
            var remainder: UInt64 = 0
            for k in 0..<limbs.count {
                let current = remainder << 32 | limbs[k]
                limbs[k] = current / 10
                remainder = current % 10
            }
            digits.append(UInt8(remainder) + 0x30)
        }
        if digits.isEmpty { digits = [0x30] }
        return "2.25." + String(decoding: digits.reversed(), as: UTF8.self)
    }
}
