import Foundation

/// Decodes the DICOM JSON Model (PS3.18 Annex F.2) into datasets: what STOW-RS JSON+bulk data
/// requests and stored metadata need. Text is stored UTF-8 and (0008,0005) becomes ISO_IR 192
/// whenever the dataset carries non-ASCII text or names a character set, so the bytes and their
/// label always agree. IS/DS numbers keep the digits the JSON wrote.
public struct DICOMJSONDecoder: Sendable {
    /// Resolves a BulkDataURI to the value's bytes; nil rejects datasets that use BulkDataURI.
    public var resolveBulkData: (@Sendable (_ uri: String, _ tag: Tag, _ vr: VR) throws -> [UInt8])?

    public init(resolveBulkData: (@Sendable (_ uri: String, _ tag: Tag, _ vr: VR) throws -> [UInt8])? = nil) {
        self.resolveBulkData = resolveBulkData
    }

    /// One JSON object → one dataset.
    public func decode(_ json: Data) throws -> DataSet {
        guard case .object(let object) = try JSONValue.parse([UInt8](json)) else {
            throw DICOMParseError(.invalidValue, "DICOM JSON dataset must be a JSON object")
        }
        return try dataSet(from: object)
    }

    /// A JSON array of objects (QIDO results, metadata) → datasets.
    public func decodeArray(_ json: Data) throws -> [DataSet] {
        guard case .array(let array) = try JSONValue.parse([UInt8](json)) else {
            throw DICOMParseError(.invalidValue, "DICOM JSON must be an array of objects")
        }
        return try array.enumerated().map { index, value in
            guard case .object(let object) = value else {
                throw DICOMParseError(.invalidValue, "array element \(index) is not a JSON object")
            }
            return try dataSet(from: object)
        }
    }

    func dataSet(from object: [String: JSONValue]) throws -> DataSet {
        var elements: [DataElement] = []
        elements.reserveCapacity(object.count)
        var hasNonASCIIText = false
        for (key, value) in object {
            guard let tag = Tag(hex: key) else {
                throw DICOMParseError(.invalidValue, "\"\(key)\" is not a tag (8 hexadecimal digits)")
            }
            guard case .object(let attribute) = value else {
                throw DICOMParseError(.invalidValue, "attribute must be a JSON object", tag: tag)
            }
            let element = try self.element(tag: tag, attribute)
            if element.vr.usesSpecificCharacterSet, let bytes = element.bytes, bytes.contains(where: { $0 >= 0x80 }) {
                hasNonASCIIText = true
            }
            elements.append(element)
        }
        var result = DataSet(elements: elements, characterSet: .utf8)
        if hasNonASCIIText || result.contains(.specificCharacterSet) {
            result.set(DataElement(tag: .specificCharacterSet, vr: .CS, bytes: Array("ISO_IR 192".utf8)))
        }
        return result
    }

    private func element(tag: Tag, _ attribute: [String: JSONValue]) throws -> DataElement {
        let vr: VR
        if case .string(let name)? = attribute["vr"] {
            guard let parsed = VR(rawValue: name) else {
                throw DICOMParseError(.invalidValue, "unknown VR \"\(name)\"", tag: tag)
            }
            vr = parsed
        } else if let known = DataDictionary.entry(for: tag), !known.vrs.isEmpty {
            vr = known.vr // "vr" is required by PS3.18 F.2.3; be lenient for known tags
        } else {
            throw DICOMParseError(.invalidValue, "attribute has no \"vr\"", tag: tag)
        }

        if let inline = attribute["InlineBinary"] {
            guard case .string(let text) = inline, let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                throw DICOMParseError(.invalidValue, "InlineBinary is not Base64", tag: tag)
            }
            return DataElement(tag: tag, vr: vr, bytes: [UInt8](data))
        }
        if let uri = attribute["BulkDataURI"] {
            guard case .string(let uri) = uri else {
                throw DICOMParseError(.invalidValue, "BulkDataURI is not a string", tag: tag)
            }
            guard let resolveBulkData else {
                throw DICOMParseError(.invalidValue, "BulkDataURI \(uri) cannot be resolved here", tag: tag)
            }
            return DataElement(tag: tag, vr: vr, bytes: try resolveBulkData(uri, tag, vr))
        }
        guard let rawValues = attribute["Value"] else {
            return vr == .SQ
                ? DataElement(tag: tag, vr: .SQ, value: .sequence([]))
                : DataElement(tag: tag, vr: vr, bytes: [])
        }
        guard case .array(let values) = rawValues else {
            throw DICOMParseError(.invalidValue, "\"Value\" must be an array", tag: tag)
        }
        switch vr {
        case .SQ:
            let items = try values.map { value -> DataSet in
                guard case .object(let object) = value else {
                    throw DICOMParseError(.invalidValue, "sequence item is not a JSON object", tag: tag)
                }
                return try dataSet(from: object)
            }
            return DataElement(tag: tag, vr: .SQ, value: .sequence(items))
        case .PN:
            let names = try values.map { value -> String in
                switch value {
                case .null: return ""
                case .string(let text): return text // lenient: a plain string
                case .object(let groups):
                    var parts = try ["Alphabetic", "Ideographic", "Phonetic"].map { key -> String in
                        switch groups[key] {
                        case nil, .null?: return ""
                        case .string(let text)?: return text
                        default: throw DICOMParseError(.invalidValue, "PN \(key) must be a string", tag: tag)
                        }
                    }
                    while let last = parts.last, last.isEmpty { parts.removeLast() }
                    return parts.joined(separator: "=")
                default:
                    throw DICOMParseError(.invalidValue, "PN value must be an object with Alphabetic/Ideographic/Phonetic", tag: tag)
                }
            }
            return DataElement(tag: tag, vr: vr, bytes: TextValue.encode(names, vr: vr, characterSet: .utf8))
        case .AT:
            let tags = try values.map { value -> Tag in
                guard case .string(let text) = value, let parsed = Tag(hex: text) else {
                    throw DICOMParseError(.invalidValue, "AT value must be an 8-digit hexadecimal string", tag: tag)
                }
                return parsed
            }
            return DataElement(tag: tag, vr: .AT, bytes: ValueParsing.encodeAttributeTags(tags))
        case .US, .SS, .UL, .SL, .SV, .UV, .FL, .FD:
            return DataElement(tag: tag, vr: vr, bytes: try binaryNumbers(values, vr: vr, tag: tag))
        case .IS, .DS:
            let texts = try values.map { value -> String in
                switch value {
                case .null: return ""
                case .string(let text): return text
                case .number(let literal): return vr == .IS ? try Self.integerText(literal, tag: tag) : Self.decimalText(literal)
                default: throw DICOMParseError(.invalidValue, "\(vr.rawValue) value must be a number", tag: tag)
                }
            }
            return DataElement(tag: tag, vr: vr, bytes: TextValue.encode(texts, vr: vr, characterSet: .utf8))
        default:
            if vr.isBulkBinary {
                throw DICOMParseError(.invalidValue, "\(vr.rawValue) value must be InlineBinary or BulkDataURI", tag: tag)
            }
            let texts = try values.map { value -> String in
                switch value {
                case .null: return ""
                case .string(let text): return text
                default: throw DICOMParseError(.invalidValue, "\(vr.rawValue) value must be a string", tag: tag)
                }
            }
            return DataElement(tag: tag, vr: vr, bytes: TextValue.encode(texts, vr: vr, characterSet: .utf8))
        }
    }

    private func binaryNumbers(_ values: [JSONValue], vr: VR, tag: Tag) throws -> [UInt8] {
        var words: [UInt64] = []
        words.reserveCapacity(values.count)
        for value in values {
            guard case .number(let literal) = value else {
                throw DICOMParseError(.invalidValue, "\(vr.rawValue) value must be a number", tag: tag)
            }
            func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> UInt64 {
                if let exact = T(literal) { return UInt64(truncatingIfNeeded: exact) }
                if let d = Double(literal), d.rounded() == d, let exact = T(exactly: d) { return UInt64(truncatingIfNeeded: exact) }
                throw DICOMParseError(.invalidValue, "\(literal) is not a \(vr.rawValue) integer in range", tag: tag)
            }
            switch vr {
            case .US: words.append(try integer(UInt16.self))
            case .SS: words.append(try integer(Int16.self))
            case .UL: words.append(try integer(UInt32.self))
            case .SL: words.append(try integer(Int32.self))
            case .SV: words.append(try integer(Int64.self))
            case .UV: words.append(try integer(UInt64.self))
            case .FL:
                guard let d = Float(literal) else { throw DICOMParseError(.invalidValue, "\(literal) is not a number", tag: tag) }
                words.append(UInt64(d.bitPattern))
            default:
                guard let d = Double(literal) else { throw DICOMParseError(.invalidValue, "\(literal) is not a number", tag: tag) }
                words.append(d.bitPattern)
            }
        }
        return NumericValue.encode(words, size: vr.binaryUnitSize ?? 8)
    }

    private static func integerText(_ literal: String, tag: Tag) throws -> String {
        if Int64(literal) != nil { return literal }
        if let d = Double(literal), d.rounded() == d, abs(d) < 1e15 { return String(Int64(d)) }
        throw DICOMParseError(.invalidValue, "IS value \(literal) is not an integer", tag: tag)
    }

    /// DS text of at most 16 characters (PS3.5 Table 6.2-1): the literal when it fits.
    private static func decimalText(_ literal: String) -> String {
        if literal.utf8.count <= 16 { return literal }
        guard let d = Double(literal) else { return String(literal.prefix(16)) }
        let shortest = d.description
        if shortest.utf8.count <= 16 { return shortest }
        for precision in stride(from: 15, through: 1, by: -1) {
            let text = String(format: "%.\(precision)g", d)
            if text.utf8.count <= 16 { return text }
        }
        return String(format: "%.6g", d)
    }
}
