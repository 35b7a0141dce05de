/// An element's value in the typed form the DICOM JSON and XML models share (PS3.18 Annex F):
/// numbers for IS/DS and binary numbers, person names split into groups, tags for AT.
enum RenderedValue {
    /// Zero-length value: the attribute is present with no Value.
    case empty
    /// Text values; nil marks an empty value inside a multi-valued element.
    case strings([String?])
    /// JSON number literals (IS, DS, binary numbers); a value that is not a valid number stays text.
    case numbers([NumberLiteral?])
    case personNames([PersonName?])
    case tags([Tag])
    case items([DataSet])
    /// OB, OW, UN, ...: bytes for InlineBinary, or a BulkDataURI.
    case binary

    enum NumberLiteral: Equatable {
        case number(String)
        case text(String)
    }

    /// - Parameter load: reads a value still in its file; only text and number VRs need it
    ///   (binary VRs stay deferred until the encoder decides between InlineBinary and BulkDataURI).
    static func of(_ element: DataElement, characterSet: SpecificCharacterSet,
                   load: ((BulkDataReference) throws -> [UInt8])?) throws -> RenderedValue {
        let vr = element.vr
        switch element.value {
        case .sequence(let items): return items.isEmpty ? .empty : .items(items)
        case .encapsulated: return .binary
        case .bytes(.deferred(let reference)):
            if vr.isBulkBinary { return .binary }
            guard let load else {
                throw DICOMParseError(.io, "value of \(element.tag) is still in its file and no loader was given", tag: element.tag)
            }
            let loaded = DataElement(tag: element.tag, vr: vr, bytes: try load(reference))
            return try of(loaded, characterSet: characterSet, load: nil)
        case .bytes(.loaded(let slice)):
            let bytes = Array(slice)
            if vr.isBulkBinary { return bytes.isEmpty ? .empty : .binary }
            if bytes.isEmpty { return .empty }
            switch vr {
            case .AT:
                return .tags(ValueParsing.attributeTags(bytes))
            case .PN:
                let values = TextValue.decode(bytes, vr: .PN, characterSet: characterSet)
                if values.allSatisfy(\.isEmpty) && values.count == 1 { return .empty }
                return .personNames(values.map { $0.isEmpty ? nil : PersonName($0) })
            case .IS, .DS:
                let values = TextValue.decode(bytes, vr: vr, characterSet: characterSet)
                if values.allSatisfy(\.isEmpty) && values.count == 1 { return .empty }
                return .numbers(values.map { text in
                    if text.isEmpty { return nil }
                    if let literal = jsonNumberLiteral(text, integer: vr == .IS) { return .number(literal) }
                    return .text(text)
                })
            case .US, .SS, .UL, .SL, .SV:
                return .numbers((NumericValue.integers(bytes, vr: vr) ?? []).map { .number(String($0)) })
            case .UV:
                return .numbers(NumericValue.unsigned64(bytes).map { .number(String($0)) })
            case .FL, .FD:
                return .numbers((NumericValue.doubles(bytes, vr: vr) ?? []).map { value in
                    value.isFinite ? .number(formatDouble(value)) : .text(String(value))
                })
            default:
                let values = TextValue.decode(bytes, vr: vr, characterSet: characterSet)
                if values.allSatisfy(\.isEmpty) && values.count == 1 { return .empty } // only padding
                return .strings(values.map { $0.isEmpty ? nil : $0 })
            }
        }
    }

    /// Turns DS/IS text into a valid JSON number literal keeping every digit written
    /// ("+1.50" → "1.50", ".5" → "0.5", "007" → "7", "1." → "1"); nil when it is not a number.
    static func jsonNumberLiteral(_ text: String, integer: Bool) -> String? {
        var chars = Array(text.utf8)
        guard !chars.isEmpty else { return nil }
        var sign: [UInt8] = []
        if chars[0] == UInt8(ascii: "+") { chars.removeFirst() } else if chars[0] == UInt8(ascii: "-") { sign = [chars.removeFirst()] }
        let isDigit = { (c: UInt8) in c >= 0x30 && c <= 0x39 }
        var i = 0
        var intPart: [UInt8] = []
        while i < chars.count, isDigit(chars[i]) { intPart.append(chars[i]); i += 1 }
        var fraction: [UInt8] = []
        if i < chars.count, chars[i] == UInt8(ascii: ".") {
            if integer { return nil }
            i += 1
            while i < chars.count, isDigit(chars[i]) { fraction.append(chars[i]); i += 1 }
        }
        guard !intPart.isEmpty || !fraction.isEmpty else { return nil }
        var exponent: [UInt8] = []
        if i < chars.count, chars[i] == UInt8(ascii: "e") || chars[i] == UInt8(ascii: "E") {
            if integer { return nil }
            i += 1
            var expSign: [UInt8] = []
            if i < chars.count, chars[i] == UInt8(ascii: "+") || chars[i] == UInt8(ascii: "-") { expSign = [chars[i]]; i += 1 }
            var digits: [UInt8] = []
            while i < chars.count, isDigit(chars[i]) { digits.append(chars[i]); i += 1 }
            guard !digits.isEmpty else { return nil }
            exponent = [UInt8(ascii: "e")] + (expSign == [UInt8(ascii: "-")] ? expSign : []) + digits
        }
        guard i == chars.count else { return nil }
        while intPart.count > 1, intPart[0] == 0x30 { intPart.removeFirst() }
        if intPart.isEmpty { intPart = [0x30] }
        var literal = sign + intPart
        if !fraction.isEmpty { literal += [UInt8(ascii: ".")] + fraction }
        literal += exponent
        if integer, Int(String(decoding: literal, as: UTF8.self)) == nil { return nil }
        return String(decoding: literal, as: UTF8.self)
    }

    /// Shortest text that reads back to the same Double (Swift's description), in JSON syntax.
    static func formatDouble(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return value.description
    }
}
