import DICOM
import Foundation

/// searchset Bundles (R4 §3.1.1.5): total, self/next/previous links, entries with fullUrl and
/// search mode (match, or include for `_include`d resources).
public enum Bundle {
    static func searchset(type: String, total: Int, matches: [JSONValue], included: [JSONValue], query: SearchQuery,
                          offset: Int, count: Int, summaryCount: Bool, base: String) -> JSONValue {
        func link(_ relation: String, offset: Int) -> JSONValue {
            var parameters = query.parameters.filter { $0.name != "_offset" }
            if offset > 0 { parameters.append(("_offset", String(offset))) }
            let queryString = parameters.map { "\(escape($0.name))=\(escape($0.value))" }.joined(separator: "&")
            return .object(["relation": .string(relation),
                            "url": .string("\(base)/\(type)" + (queryString.isEmpty ? "" : "?\(queryString)"))])
        }
        var links = [link("self", offset: offset)]
        if !summaryCount {
            if count > 0, offset + matches.count < total { links.append(link("next", offset: offset + count)) }
            if offset > 0 { links.append(link("previous", offset: max(0, offset - count))) }
        }
        var bundle: [String: JSONValue] = [
            "resourceType": .string("Bundle"),
            "id": .string(UUID().uuidString.lowercased()),
            "meta": .object(["lastUpdated": .string(Resources.instant(Date().timeIntervalSince1970))]),
            "type": .string("searchset"),
            "total": .integer(total),
            "link": .array(links),
        ]
        let entries = matches.map { entry($0, mode: "match", base: base) } + included.map { entry($0, mode: "include", base: base) }
        if !entries.isEmpty { bundle["entry"] = .array(entries) }
        return .object(bundle)
    }

    static func entry(_ resource: JSONValue, mode: String, base: String) -> JSONValue {
        let type = resource["resourceType"]?.stringValue ?? ""
        let id = resource["id"]?.stringValue ?? ""
        return .object(["fullUrl": .string("\(base)/\(type)/\(id)"), "resource": resource,
                        "search": .object(["mode": .string(mode)])])
    }

    static func escape(_ text: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
