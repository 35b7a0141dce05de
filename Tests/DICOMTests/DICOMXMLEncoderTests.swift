import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import DICOM

@Suite struct DICOMXMLEncoderTests {
    static let policy = BulkDataPolicy(threshold: 4) { path in "https://pacs.example/bulk/\(path)?a=1&b=2" }

    func element(_ tag: DICOM.Tag, _ vr: VR, _ text: String) -> DataElement {
        DataElement(tag: tag, vr: vr, bytes: Array(text.utf8))
    }

    func encode(_ elements: DataElement..., characterSet: SpecificCharacterSet = .default,
                encoder: DICOMXMLEncoder = DICOMXMLEncoder()) throws -> String {
        try encoder.encode(DataSet(elements: elements, characterSet: characterSet))
    }

    /// Parses the document with Foundation's XML parser: every output must be well-formed.
    func parse(_ text: String) throws -> XMLDocument {
        try XMLDocument(xmlString: text, options: [])
    }

    /// The DicomAttribute elements with `tag` anywhere in the document.
    func attributes(_ document: XMLDocument, tag: String) throws -> [XMLElement] {
        try document.nodes(forXPath: "//DicomAttribute[@tag='\(tag)']").compactMap { $0 as? XMLElement }
    }

    /// The part of the output between the XML declaration/root and the end of the root.
    func body(_ text: String) -> String {
        let prefix = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NativeDicomModel xml:space=\"preserve\">"
        let suffix = "</NativeDicomModel>"
        guard text.hasPrefix(prefix), text.hasSuffix(suffix) else { return "<not a NativeDicomModel document>" }
        return String(text.dropFirst(prefix.count).dropLast(suffix.count))
    }

    @Test func producesWellFormedNativeDicomModel() throws {
        let text = try encode(element(.patientName, .PN, "Doe^John"), element(.patientID, .LO, "MVNA-1"))
        let document = try parse(text)
        let root = try #require(document.rootElement())
        #expect(root.name == "NativeDicomModel")
        let children = root.elements(forName: "DicomAttribute")
        #expect(children.count == 2)
        #expect(children.map { $0.attribute(forName: "tag")?.stringValue } == ["00100010", "00100020"])
        #expect(children.map { $0.attribute(forName: "keyword")?.stringValue } == ["PatientName", "PatientID"])
        #expect(children.map { $0.attribute(forName: "vr")?.stringValue } == ["PN", "LO"])
    }

    @Test func splitsPersonNamesIntoGroupsAndComponents() throws {
        let text = try encode(element(.patientName, .PN, "Yamada^Tarou^^Dr=山田^太郎=やまだ^たろう"), characterSet: .utf8)
        #expect(body(text) == "<DicomAttribute tag=\"00100010\" vr=\"PN\" keyword=\"PatientName\"><PersonName number=\"1\">"
            + "<Alphabetic><FamilyName>Yamada</FamilyName><GivenName>Tarou</GivenName><NamePrefix>Dr</NamePrefix></Alphabetic>"
            + "<Ideographic><FamilyName>山田</FamilyName><GivenName>太郎</GivenName></Ideographic>"
            + "<Phonetic><FamilyName>やまだ</FamilyName><GivenName>たろう</GivenName></Phonetic>"
            + "</PersonName></DicomAttribute>")
        let document = try parse(text)
        let family = try document.nodes(forXPath: "//PersonName/Ideographic/FamilyName").first?.stringValue
        #expect(family == "山田")
    }

    @Test func omitsEmptyPersonNameGroups() throws {
        let text = try encode(element(.patientName, .PN, "=山田^太郎"), characterSet: .utf8)
        #expect(!text.contains("<Alphabetic>"))
        #expect(text.contains("<PersonName number=\"1\"><Ideographic><FamilyName>山田</FamilyName><GivenName>太郎</GivenName></Ideographic></PersonName>"))
        _ = try parse(text)
    }

    @Test func writesNumbersAsNormalisedValues() throws {
        let text = try encode(element(.pixelSpacing, .DS, "+1.50\\.5\\1e3 "), element(.instanceNumber, .IS, "+7 "),
                              DataElement(tag: .rows, vr: .US, bytes: [0x00, 0x02]))
        #expect(text.contains("<DicomAttribute tag=\"00280030\" vr=\"DS\" keyword=\"PixelSpacing\"><Value number=\"1\">1.50</Value><Value number=\"2\">0.5</Value><Value number=\"3\">1e3</Value></DicomAttribute>"))
        #expect(text.contains("<Value number=\"1\">7</Value>"))
        #expect(text.contains("<DicomAttribute tag=\"00280010\" vr=\"US\" keyword=\"Rows\"><Value number=\"1\">512</Value></DicomAttribute>"))
        _ = try parse(text)
    }

    @Test func writesNoValueForEmptyAttributes() throws {
        let text = try encode(element(.patientName, .PN, ""), element(.patientID, .LO, "  "),
                              DataElement(tag: .referencedStudySequence, vr: .SQ, value: .sequence([])))
        #expect(body(text) == "<DicomAttribute tag=\"00081110\" vr=\"SQ\" keyword=\"ReferencedStudySequence\"></DicomAttribute>"
            + "<DicomAttribute tag=\"00100010\" vr=\"PN\" keyword=\"PatientName\"></DicomAttribute>"
            + "<DicomAttribute tag=\"00100020\" vr=\"LO\" keyword=\"PatientID\"></DicomAttribute>")
    }

    @Test func skipsEmptyValuesButKeepsTheirPositions() throws {
        let text = try encode(element(.imageType, .CS, "ORIGINAL\\\\AXIAL "), element(.otherPatientNames, .PN, "\\Roe"))
        #expect(text.contains("<Value number=\"1\">ORIGINAL</Value><Value number=\"3\">AXIAL</Value>"))
        #expect(!text.contains("<Value number=\"2\">"))
        #expect(text.contains("<PersonName number=\"2\"><Alphabetic><FamilyName>Roe</FamilyName></Alphabetic></PersonName>"))
        #expect(!text.contains("<PersonName number=\"1\">"))
    }

    @Test func writesAttributeTagsAsHex() throws {
        let at = DataElement(tag: .frameIncrementPointer, vr: .AT,
                             bytes: ValueParsing.encodeAttributeTags([DICOM.Tag(0x0018, 0x1063), .pixelData]))
        #expect(try encode(at).contains("<Value number=\"1\">00181063</Value><Value number=\"2\">7FE00010</Value>"))
    }

    @Test func numbersSequenceItemsFromOne() throws {
        let first = DataSet(elements: [element(.referencedSOPInstanceUID, .UI, "1.2.3\0")])
        let text = try encode(DataElement(tag: .referencedStudySequence, vr: .SQ, value: .sequence([first, DataSet()])))
        #expect(body(text) == "<DicomAttribute tag=\"00081110\" vr=\"SQ\" keyword=\"ReferencedStudySequence\">"
            + "<Item number=\"1\"><DicomAttribute tag=\"00081155\" vr=\"UI\" keyword=\"ReferencedSOPInstanceUID\"><Value number=\"1\">1.2.3</Value></DicomAttribute></Item>"
            + "<Item number=\"2\"></Item></DicomAttribute>")
        let document = try parse(text)
        #expect(try attributes(document, tag: "00081155").first?.stringValue == "1.2.3")
    }

    @Test func choosesInlineBinaryOrBulkDataByThreshold() throws {
        let encoder = DICOMXMLEncoder(bulkData: Self.policy)
        let text = try encode(DataElement(tag: Tag(0x0029, 0x1001), vr: .OB, bytes: [1, 2, 3, 4]),
                              DataElement(tag: .encapsulatedDocument, vr: .OB, bytes: [1, 2, 3, 4, 5, 6]), encoder: encoder)
        #expect(text.contains("<InlineBinary>AQIDBA==</InlineBinary>"))
        #expect(text.contains("<BulkData uri=\"https://pacs.example/bulk/00420011?a=1&amp;b=2\"/>"))
        let document = try parse(text)
        let bulk = try document.nodes(forXPath: "//BulkData").first as? XMLElement
        #expect(bulk?.attribute(forName: "uri")?.stringValue == "https://pacs.example/bulk/00420011?a=1&b=2")
    }

    /// Float values the reader left in the file are numbers, not InlineBinary, once loaded (PS3.19 A.1.5).
    @Test func encodesLoadedDeferredFloatsAsValues() throws {
        let stored = NumericValue.encode([(0.5).bitPattern, (2.25).bitPattern], size: 8)
        let deferred = DataElement(tag: Tag(0x0018, 0x9089), vr: .FD,
                                   value: .bytes(.deferred(BulkDataReference(offset: 0, length: stored.count))))
        let text = try encode(deferred, encoder: DICOMXMLEncoder(load: { _ in stored }))
        #expect(text.contains("<Value number=\"1\">0.5</Value><Value number=\"2\">2.25</Value>"), "\(text)")
        #expect(!text.contains("InlineBinary"))
    }

    @Test func namesPrivateCreatorOfPrivateElements() throws {
        let text = try encode(element(Tag(0x0009, 0x0010), .LO, "ACME <1.0>"), element(Tag(0x0009, 0x1001), .LO, "private"))
        #expect(text.contains("<DicomAttribute tag=\"00091001\" vr=\"LO\" privateCreator=\"ACME &lt;1.0&gt;\">"))
        #expect(text.contains("<DicomAttribute tag=\"00090010\" vr=\"LO\">"), "a private element has no keyword")
        let document = try parse(text)
        let attribute = try #require(try attributes(document, tag: "00091001").first)
        #expect(attribute.attribute(forName: "privateCreator")?.stringValue == "ACME <1.0>")
    }

    @Test func escapesMarkupAndDropsCharactersXMLCannotCarry() throws {
        let text = try encode(element(.imageComments, .LT, "a < b & c > \"d\"\u{01}\u{0B} end"))
        #expect(text.contains("<Value number=\"1\">a &lt; b &amp; c &gt; &quot;d&quot; end</Value>"))
        let document = try parse(text)
        #expect(try attributes(document, tag: "00204000").first?.stringValue == "a < b & c > \"d\" end")
    }

    @Test func encodesRealFileAsWellFormedXML() throws {
        let file = try Part10Reader.read(path: FixturePaths.path("charsets/iso2022_ir149.dcm"))
        let text = try DICOMXMLEncoder(bulkData: Self.policy).encode(file.dataSet)
        let document = try parse(text)
        let phonetic = try document.nodes(forXPath: "//DicomAttribute[@tag='00100010']/PersonName/Phonetic/GivenName").first
        #expect(phonetic?.stringValue == "길동")
        #expect(try document.nodes(forXPath: "//DicomAttribute[@tag='7FE00010']/BulkData").count == 1)
    }
}
