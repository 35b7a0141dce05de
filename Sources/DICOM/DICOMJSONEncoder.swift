/// Encodes datasets in the DICOM JSON Model (PS3.18 Annex F.2).
///
/// Writes the text directly (keys in tag order) rather than through a JSON library: it is the
/// hot path of QIDO and metadata responses, and PS3.18's number and null rules need control.
public struct DICOMJSONEncoder: Sendable {
    /// Bulk data policy; nil writes every binary value inline.
    public var bulkData: BulkDataPolicy?
    /// Reads values still in their file when they must be inlined (no policy, or below threshold).
    public var load: (@Sendable (BulkDataReference) throws -> [UInt8])?

    public init(bulkData: BulkDataPolicy? = nil, load: (@Sendable (BulkDataReference) throws -> [UInt8])? = nil) {
        self.bulkData = bulkData
        self.load = load
    }

    /// One dataset as a JSON object.
    public func encode(_ dataSet: DataSet) throws -> String {
        var out = JSONText()
        try write(dataSet, path: ElementPath(), to: &out)
        return out.text
    }

    /// Several datasets as a JSON array (QIDO responses, metadata).
    public func encode(_ dataSets: [DataSet]) throws -> String {
        var out = JSONText()
        out.raw("[")
        for (i, dataSet) in dataSets.enumerated() {
            if i > 0 { out.raw(",") }
            try write(dataSet, path: ElementPath(), to: &out)
        }
        out.raw("]")
        return out.text
    }

    private func write(_ dataSet: DataSet, path: ElementPath, to out: inout JSONText) throws {
        out.raw("{")
        var first = true
        for element in dataSet.elements {
            if !first { out.raw(",") }
            first = false
            out.string(element.tag.hexString)
            out.raw(":")
            try write(element, characterSet: dataSet.characterSet, path: path.appending(element.tag), to: &out)
        }
        out.raw("}")
    }

    private func write(_ element: DataElement, characterSet: SpecificCharacterSet, path: ElementPath, to out: inout JSONText) throws {
        out.raw("{\"vr\":")
        out.string(element.vr.rawValue)
        switch try RenderedValue.of(element, characterSet: characterSet, load: load) {
        case .empty:
            break
        case .binary:
            if let uri = bulkData?.uriIfBulk(element, path: path) {
                out.raw(",\"BulkDataURI\":")
                out.string(uri)
            } else {
                out.raw(",\"InlineBinary\":")
                out.string(Base64.encode(try binaryValue(of: element)))
            }
        case .items(let items):
            out.raw(",\"Value\":[")
            for (i, item) in items.enumerated() {
                if i > 0 { out.raw(",") }
                try write(item, path: path.enteringItem(i), to: &out)
            }
            out.raw("]")
        case .strings(let values):
            out.raw(",\"Value\":[")
            for (i, value) in values.enumerated() {
                if i > 0 { out.raw(",") }
                if let value { out.string(value) } else { out.raw("null") }
            }
            out.raw("]")
        case .numbers(let values):
            out.raw(",\"Value\":[")
            for (i, value) in values.enumerated() {
                if i > 0 { out.raw(",") }
                switch value {
                case .number(let literal)?: out.raw(literal)
                case .text(let text)?: out.string(text)
                case nil: out.raw("null")
                }
            }
            out.raw("]")
        case .tags(let tags):
            out.raw(",\"Value\":[")
            for (i, tag) in tags.enumerated() {
                if i > 0 { out.raw(",") }
                out.string(tag.hexString)
            }
            out.raw("]")
        case .personNames(let names):
            out.raw(",\"Value\":[")
            for (i, name) in names.enumerated() {
                if i > 0 { out.raw(",") }
                guard let name else { out.raw("null"); continue }
                out.raw("{")
                for (g, group) in name.groups.enumerated() {
                    if g > 0 { out.raw(",") }
                    out.string(["Alphabetic", "Ideographic", "Phonetic"][g])
                    out.raw(":")
                    out.string(group.rawValue)
                }
                out.raw("}")
            }
            out.raw("]")
        }
        out.raw("}")
    }

    /// The bytes InlineBinary carries: the value, or for encapsulated Pixel Data its item stream.
    func binaryValue(of element: DataElement) throws -> [UInt8] {
        let loader: (BulkDataReference) throws -> [UInt8] = { reference in
            guard let load = self.load else {
                throw DICOMParseError(.io, "value of \(element.tag) is still in its file and no loader was given", tag: element.tag)
            }
            return try load(reference)
        }
        switch element.value {
        case .bytes(.loaded(let bytes)): return Array(bytes)
        case .bytes(.deferred(let reference)): return try loader(reference)
        case .encapsulated(let pixels): return try pixels.itemStream(loading: loader)
        case .sequence: return []
        }
    }
}

/// A JSON text builder with correct string escaping (RFC 8259 §7).
struct JSONText {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(4096) }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    mutating func string(_ s: String) {
        bytes.append(0x22)
        for byte in s.utf8 {
            switch byte {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(0x5C); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(0x5C); bytes.append(UInt8(ascii: "t"))
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(0x22)
    }
}

/// Base64 (RFC 4648) for InlineBinary, without Foundation's Data round trip.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ input: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = input.count - i
        if rest > 0 {
            let n = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }
}
