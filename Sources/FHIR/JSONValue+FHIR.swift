import DICOM
import Foundation


extension JSONValue {
    /// Text with `resourceType`, `id` and `meta` first and the other keys sorted: stable output
    /// that reads like the examples in the FHIR specification.
    public func serialized() -> String {
        var out = ""
        write(to: &out)
        return out
    }

    private static let leadingKeys = ["resourceType", "id", "meta"]

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let literal): out += literal
        case .string(let text): JSONString.append(text, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            let keys = Self.leadingKeys.filter { members[$0] != nil } + members.keys.filter { !Self.leadingKeys.contains($0) }.sorted()
            for (index, key) in keys.enumerated() {
                if index > 0 { out += "," }
                JSONString.append(key, to: &out)
                out += ":"
                members[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    // MARK: Reading

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// A JSON integer literal as Int.
    public static func integer(_ value: Int) -> JSONValue { .number(String(value)) }
}
