/// A media type with parameters, parsed the tolerant way real clients need: parameters quoted or
/// not, extra whitespace and semicolons, case-insensitive names (RFC 9110 §8.3.1).
struct MediaType: Hashable, Sendable, CustomStringConvertible {
    let type: String
    let subtype: String
    /// Parameter names lower-cased; values unquoted.
    let parameters: [String: String]

    var essence: String { "\(type)/\(subtype)" }
    var description: String {
        ([essence] + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }).joined(separator: "; ")
    }

    init(type: String, subtype: String, parameters: [String: String] = [:]) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
    }

    /// Parses one media type (`multipart/related; type="application/dicom"; boundary=xyz`).
    init?(_ text: some StringProtocol) {
        let pieces = Self.splitOutsideQuotes(String(text), separator: ";")
        guard let first = pieces.first else { return nil }
        let essence = first.trimmingOptionalWhitespace().lowercased()
        let parts = essence.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        type = String(parts[0])
        subtype = String(parts[1])
        var parameters: [String: String] = [:]
        for piece in pieces.dropFirst() {
            let trimmed = piece.trimmingOptionalWhitespace()
            guard !trimmed.isEmpty, let equals = trimmed.firstIndex(of: "=") else { continue }
            let name = trimmed[..<equals].trimmingOptionalWhitespace().lowercased()
            var value = trimmed[trimmed.index(after: equals)...].trimmingOptionalWhitespace()
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
            }
            parameters[name] = value
        }
        self.parameters = parameters
    }

    /// Splits at `separator` where it is not inside double quotes.
    static func splitOutsideQuotes(_ text: String, separator: Character) -> [String] {
        var result: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in text {
            if escaped { current.append(character); escaped = false; continue }
            if character == "\\" && quoted { current.append(character); escaped = true; continue }
            if character == "\"" { quoted.toggle() }
            if character == separator && !quoted {
                result.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        result.append(current)
        return result
    }

    /// True when this (possibly wildcard) range from an Accept header covers `other`.
    func covers(_ other: MediaType) -> Bool {
        (type == "*" || type == other.type) && (subtype == "*" || subtype == other.subtype)
    }
}

/// One entry of an Accept header with its quality.
struct AcceptEntry: Sendable {
    let mediaType: MediaType
    let quality: Double

    /// Parses `Accept`: comma-separated media ranges with optional `q`; absent header = `*/*`.
    static func parse(_ header: String?) -> [AcceptEntry] {
        guard let header, !header.trimmingOptionalWhitespace().isEmpty else {
            return [AcceptEntry(mediaType: MediaType(type: "*", subtype: "*"), quality: 1)]
        }
        return MediaType.splitOutsideQuotes(header, separator: ",").compactMap { item in
            guard let mediaType = MediaType(item) else { return nil }
            let quality = mediaType.parameters["q"].flatMap(Double.init) ?? 1
            return AcceptEntry(mediaType: mediaType, quality: quality)
        }
        .filter { $0.quality > 0 }
        .sorted { $0.quality > $1.quality }
    }
}

import Foundation

import HTTPTypes

extension HTTPField.Name {
    /// `Warning` (RFC 7234 §5.5): PS3.18 §8.3.4 uses it for results cut short and instance failures.
    static let warning = HTTPField.Name("Warning")!
    static let availableMediaTypes = HTTPField.Name("Available-Media-Types")!
    /// `Prefer` (RFC 7240): FHIR's `handling=strict|lenient` for unknown search parameters.
    static let prefer = HTTPField.Name("Prefer")!
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (RFC 9110 "OWS"). Foundation's
    /// `trimmingCharacters(in:)` showed up in profiles of small STOW requests.
    func trimmingOptionalWhitespace() -> String {
        let isOWS: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isOWS($0) }), let end = lastIndex(where: { !isOWS($0) }) else { return "" }
        return String(self[start...end])
    }
}
