import Foundation

/// The query of a FHIR search, already percent-decoded, in order (a name may repeat: AND).
public struct SearchQuery: Sendable {
    public var parameters: [(name: String, value: String)]
    /// `Prefer: handling=strict`: unknown or unsupported parameters are an error, not ignored.
    public var strict: Bool

    public init(parameters: [(name: String, value: String)], strict: Bool) {
        self.parameters = parameters
        self.strict = strict
    }

    func values(_ name: String) -> [String] { parameters.filter { $0.name == name }.map(\.value) }
}

/// A comparison prefix of a date search (R4 §3.1.1.4.2); `sa`, `eb`, `ap` are not supported.
enum DatePrefix: String {
    case eq, ne, gt, lt, ge, le
}

/// A date search value: its prefix and the range of instants it covers at its precision.
struct DateSearch {
    let prefix: DatePrefix
    /// Inclusive lower and exclusive upper bound, as `YYYYMMDDHHMMSS` (DICOM-like, sortable).
    let lower: String
    let upper: String

    /// `ge2024-01-15`, `2024-01`, `lt2024-01-15T10:00:00Z` (the time's zone is ignored: DICOM
    /// dates and times in the index carry none).
    init(_ text: String, parameter: String) throws(FHIRError) {
        var value = Substring(text)
        var prefix = DatePrefix.eq
        if value.count > 2, let p = DatePrefix(rawValue: String(value.prefix(2))), value.prefix(2).allSatisfy(\.isLetter) {
            prefix = p
            value = value.dropFirst(2)
        } else if value.prefix(2).allSatisfy(\.isLetter) && value.count > 2 {
            throw FHIRError(.badRequest, "invalid", "\(parameter): prefix \"\(value.prefix(2))\" is not supported (eq, ne, gt, lt, ge, le)")
        }
        let digits = value.prefix { $0 != "Z" && $0 != "+" }.filter { ("0"..."9").contains($0) }
        guard [4, 6, 8, 10, 12, 14].contains(digits.count) || digits.count > 14,
              let first = value.first, ("0"..."9").contains(first) else {
            throw FHIRError(.badRequest, "invalid", "\(parameter): \"\(text)\" is not a FHIR date or dateTime")
        }
        let start = String(digits.prefix(14))
        self.prefix = prefix
        lower = start.padding(toLength: 14, withPad: "0", startingAt: 0)
        upper = Self.next(start).padding(toLength: 14, withPad: "0", startingAt: 0)
    }

    /// The first value after every value that starts with `prefix` (same length, last unit + 1).
    static func next(_ prefix: String) -> String {
        var digits = Array(prefix.utf8)
        var index = digits.count - 1
        while index >= 0 {
            if digits[index] < UInt8(ascii: "9") { digits[index] += 1; return String(decoding: digits, as: UTF8.self) }
            digits[index] = UInt8(ascii: "0")
            index -= 1
        }
        return "9" + String(decoding: digits, as: UTF8.self)
    }
}

/// `system|code`, `code`, `|code` (no system), `system|` (any code in the system).
struct TokenSearch {
    let system: String?
    let code: String?
    let requiresNoSystem: Bool

    init(_ text: String) {
        if let bar = text.firstIndex(of: "|") {
            let system = String(text[..<bar]), code = String(text[text.index(after: bar)...])
            self.system = system.isEmpty ? nil : system
            self.code = code.isEmpty ? nil : code
            requiresNoSystem = system.isEmpty
        } else {
            system = nil
            code = text
            requiresNoSystem = false
        }
    }
}

/// `Patient/123`, `123` (for a parameter whose only target type is known), or a full URL ending so.
func referenceID(_ text: String, type: String) -> String? {
    let parts = text.split(separator: "/")
    if parts.count == 1 { return String(parts[0]) }
    if parts.count >= 2, parts[parts.count - 2] == type { return String(parts[parts.count - 1]) }
    return nil
}
