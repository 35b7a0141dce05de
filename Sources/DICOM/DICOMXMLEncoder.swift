/// Encodes datasets in the Native DICOM Model (PS3.19 Annex A.1, used by PS3.18 Annex F.3):
/// `NativeDicomModel` / `DicomAttribute` with Value, PersonName, Item, InlineBinary, BulkData.
public struct DICOMXMLEncoder: Sendable {
    public var bulkData: BulkDataPolicy?
    public var load: (@Sendable (BulkDataReference) throws -> [UInt8])?

    public init(bulkData: BulkDataPolicy? = nil, load: (@Sendable (BulkDataReference) throws -> [UInt8])? = nil) {
        self.bulkData = bulkData
        self.load = load
    }

    /// One dataset as a complete XML document.
    public func encode(_ dataSet: DataSet) throws -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NativeDicomModel xml:space=\"preserve\">"
        try write(dataSet, path: ElementPath(), to: &out)
        out += "</NativeDicomModel>"
        return out
    }

    private func write(_ dataSet: DataSet, path: ElementPath, to out: inout String) throws {
        for element in dataSet.elements {
            out += "<DicomAttribute tag=\"\(element.tag.hexString)\" vr=\"\(element.vr.rawValue)\""
            if let keyword = DataDictionary.keyword(for: element.tag) {
                out += " keyword=\"\(keyword)\""
            }
            if let creatorTag = element.tag.privateCreatorTag, let creator = dataSet.string(creatorTag) {
                out += " privateCreator=\"\(Self.escape(creator))\""
            }
            out += ">"
            let elementPath = path.appending(element.tag)
            switch try RenderedValue.of(element, characterSet: dataSet.characterSet, load: load) {
            case .empty:
                break
            case .binary:
                if let uri = bulkData?.uriIfBulk(element, path: elementPath) {
                    out += "<BulkData uri=\"\(Self.escape(uri))\"/>"
                } else {
                    let json = DICOMJSONEncoder(bulkData: nil, load: load)
                    out += "<InlineBinary>\(Base64.encode(try json.binaryValue(of: element)))</InlineBinary>"
                }
            case .items(let items):
                for (i, item) in items.enumerated() {
                    out += "<Item number=\"\(i + 1)\">"
                    try write(item, path: elementPath.enteringItem(i), to: &out)
                    out += "</Item>"
                }
            case .strings(let values):
                for (i, value) in values.enumerated() {
                    if let value { out += "<Value number=\"\(i + 1)\">\(Self.escape(value))</Value>" }
                }
            case .numbers(let values):
                for (i, value) in values.enumerated() {
                    switch value {
                    case .number(let literal)?: out += "<Value number=\"\(i + 1)\">\(literal)</Value>"
                    case .text(let text)?: out += "<Value number=\"\(i + 1)\">\(Self.escape(text))</Value>"
                    case nil: break
                    }
                }
            case .tags(let tags):
                for (i, tag) in tags.enumerated() {
                    out += "<Value number=\"\(i + 1)\">\(tag.hexString)</Value>"
                }
            case .personNames(let names):
                for (i, name) in names.enumerated() {
                    guard let name else { continue }
                    out += "<PersonName number=\"\(i + 1)\">"
                    for (g, group) in name.groups.enumerated() where !group.rawValue.isEmpty {
                        let groupName = ["Alphabetic", "Ideographic", "Phonetic"][g]
                        out += "<\(groupName)>"
                        let parts = [("FamilyName", group.familyName), ("GivenName", group.givenName),
                                     ("MiddleName", group.middleName), ("NamePrefix", group.namePrefix),
                                     ("NameSuffix", group.nameSuffix)]
                        for (partName, value) in parts where !value.isEmpty {
                            out += "<\(partName)>\(Self.escape(value))</\(partName)>"
                        }
                        out += "</\(groupName)>"
                    }
                    out += "</PersonName>"
                }
            }
            out += "</DicomAttribute>"
        }
    }

    /// XML character escaping; characters XML 1.0 cannot carry at all are dropped.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
