import Foundation
import Testing
@testable import DICOM

@Suite struct DICOMJSONEncoderTests {
    static let policy = BulkDataPolicy(threshold: 4) { path in "https://pacs.example/bulk/\(path)" }

    func element(_ tag: DICOM.Tag, _ vr: VR, _ text: String) -> DataElement {
        DataElement(tag: tag, vr: vr, bytes: Array(text.utf8))
    }

    /// Encodes one element and returns the JSON text.
    func encode(_ elements: DataElement..., characterSet: SpecificCharacterSet = .default,
                encoder: DICOMJSONEncoder = DICOMJSONEncoder()) throws -> String {
        try encoder.encode(DataSet(elements: elements, characterSet: characterSet))
    }

    /// Parses JSON text with Foundation: every output must be valid JSON.
    func parse(_ text: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        return try #require(object as? [String: Any], "not a JSON object: \(text)")
    }

    func attribute(_ text: String, _ key: String) throws -> [String: Any] {
        try #require(try parse(text)[key] as? [String: Any], "no \(key) in \(text)")
    }

    // MARK: Person names

    @Test func encodesPersonNameComponentGroups() throws {
        let text = try encode(element(.patientName, .PN, "Yamada^Tarou=山田^太郎=やまだ^たろう "), characterSet: .utf8)
        #expect(text == #"{"00100010":{"vr":"PN","Value":[{"Alphabetic":"Yamada^Tarou","Ideographic":"山田^太郎","Phonetic":"やまだ^たろう"}]}}"#)
        let value = try #require(try attribute(text, "00100010")["Value"] as? [[String: String]])
        #expect(value == [["Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"]])
    }

    @Test func encodesSingleGroupPersonNameAsAlphabeticOnly() throws {
        #expect(try encode(element(.patientName, .PN, "Doe^John")) == #"{"00100010":{"vr":"PN","Value":[{"Alphabetic":"Doe^John"}]}}"#)
        #expect(try encode(element(.patientName, .PN, "Doe^John==")) == #"{"00100010":{"vr":"PN","Value":[{"Alphabetic":"Doe^John"}]}}"#)
    }

    @Test func decodesPersonNameWithTheDataSetCharacterSet() throws {
        let name = DataElement(tag: .patientName, vr: .PN, bytes: [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72])
        let text = try encode(name, characterSet: SpecificCharacterSet(terms: ["ISO_IR 100"]))
        #expect(text == #"{"00100010":{"vr":"PN","Value":[{"Alphabetic":"Müller"}]}}"#)
    }

    // MARK: Numbers

    @Test func encodesDecimalStringsAsJSONNumbers() throws {
        let text = try encode(element(.pixelSpacing, .DS, "+1.50\\.5\\1e3\\-0.25\\1E+3\\ 2 "))
        #expect(text == #"{"00280030":{"vr":"DS","Value":[1.50,0.5,1e3,-0.25,1e3,2]}}"#)
        let values = try #require(try attribute(text, "00280030")["Value"] as? [Double])
        #expect(values == [1.5, 0.5, 1000, -0.25, 1000, 2])
    }

    @Test func encodesIntegerStringsAsJSONNumbers() throws {
        let text = try encode(element(.instanceNumber, .IS, "+12\\-3\\007 "))
        #expect(text == #"{"00200013":{"vr":"IS","Value":[12,-3,7]}}"#)
        #expect(try attribute(text, "00200013")["Value"] as? [Int] == [12, -3, 7])
    }

    @Test func keepsUnparseableNumbersValidJSON() throws {
        let ds = try encode(element(.sliceThickness, .DS, "abc"))
        #expect(try attribute(ds, "00180050")["Value"] as? [String] == ["abc"])
        let fraction = try encode(element(.instanceNumber, .IS, "1.5 "))
        #expect(try attribute(fraction, "00200013")["Value"] as? [String] == ["1.5"])
    }

    @Test func encodesBinaryNumbers() throws {
        let text = try encode(
            DataElement(tag: .rows, vr: .US, bytes: [0x01, 0x00, 0xFF, 0xFF]),
            DataElement(tag: .smallestImagePixelValue, vr: .SS, bytes: [0xFF, 0xFF]),
            DataElement(tag: .diffusionBValue, vr: .FD, bytes: NumericValue.encode([(0.1).bitPattern, (3.0).bitPattern], size: 8)),
            DataElement(tag: .realWorldValueIntercept, vr: .FD, bytes: NumericValue.encode([(-2.5).bitPattern], size: 8)))
        #expect(text.contains(#""00280010":{"vr":"US","Value":[1,65535]}"#))
        #expect(text.contains(#""00280106":{"vr":"SS","Value":[-1]}"#))
        #expect(text.contains(#""00189087":{"vr":"FD","Value":[0.1,3]}"#))
        #expect(text.contains(#""00409224":{"vr":"FD","Value":[-2.5]}"#))
        _ = try parse(text)
    }

    // MARK: Empty and multi-valued

    @Test func omitsValueForEmptyAttributes() throws {
        let cases: [(DataElement, String)] = [
            (element(.patientName, .PN, ""), #"{"00100010":{"vr":"PN"}}"#),
            (element(.patientID, .LO, ""), #"{"00100020":{"vr":"LO"}}"#),
            (element(.patientID, .LO, "  "), #"{"00100020":{"vr":"LO"}}"#),
            (element(.pixelSpacing, .DS, ""), #"{"00280030":{"vr":"DS"}}"#),
            (element(.instanceNumber, .IS, " "), #"{"00200013":{"vr":"IS"}}"#),
            (DataElement(tag: .rows, vr: .US, bytes: []), #"{"00280010":{"vr":"US"}}"#),
            (DataElement(tag: .frameIncrementPointer, vr: .AT, bytes: []), #"{"00280009":{"vr":"AT"}}"#),
            (DataElement(tag: .encapsulatedDocument, vr: .OB, bytes: []), #"{"00420011":{"vr":"OB"}}"#),
            (DataElement(tag: .referencedStudySequence, vr: .SQ, value: .sequence([])), #"{"00081110":{"vr":"SQ"}}"#),
        ]
        for (element, expected) in cases {
            #expect(try encode(element) == expected)
        }
    }

    @Test func writesNullForEmptyValuesInMultiValuedAttributes() throws {
        #expect(try encode(element(.imageType, .CS, "ORIGINAL\\\\AXIAL ")) == #"{"00080008":{"vr":"CS","Value":["ORIGINAL",null,"AXIAL"]}}"#)
        #expect(try encode(element(.imageType, .CS, "\\PRIMARY")) == #"{"00080008":{"vr":"CS","Value":[null,"PRIMARY"]}}"#)
        #expect(try encode(element(.pixelSpacing, .DS, "1\\\\3 ")) == #"{"00280030":{"vr":"DS","Value":[1,null,3]}}"#)
        let names = try encode(element(.otherPatientNames, .PN, "Doe^John\\\\Roe"))
        #expect(names == #"{"00101001":{"vr":"PN","Value":[{"Alphabetic":"Doe^John"},null,{"Alphabetic":"Roe"}]}}"#)
        let parsed = try #require(try attribute(names, "00101001")["Value"] as? [Any])
        #expect(parsed[1] is NSNull)
    }

    // MARK: AT, SQ

    @Test func encodesAttributeTagsAsHexStrings() throws {
        let at = DataElement(tag: .frameIncrementPointer, vr: .AT,
                             bytes: ValueParsing.encodeAttributeTags([DICOM.Tag(0x0018, 0x1063), .pixelData]))
        #expect(try encode(at) == #"{"00280009":{"vr":"AT","Value":["00181063","7FE00010"]}}"#)
    }

    @Test func encodesSequenceItemsAsObjects() throws {
        let item1 = DataSet(elements: [element(.referencedSOPInstanceUID, .UI, "1.2.3\0")])
        let nested = DataSet(elements: [element(.codeValue, .SH, "121")])
        let item2 = DataSet(elements: [DataElement(tag: .conceptNameCodeSequence, vr: .SQ, value: .sequence([nested]))])
        let text = try encode(DataElement(tag: .referencedStudySequence, vr: .SQ, value: .sequence([item1, item2, DataSet()])))
        #expect(text == #"{"00081110":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.3"]}},{"0040A043":{"vr":"SQ","Value":[{"00080100":{"vr":"SH","Value":["121"]}}]}},{}]}}"#)
        _ = try parse(text)
    }

    // MARK: Binary values

    @Test func inlinesSmallBinaryAndLinksLargeBinaryWithThePolicyURI() throws {
        let encoder = DICOMJSONEncoder(bulkData: Self.policy)
        let small = DataElement(tag: .encapsulatedDocument, vr: .OB, bytes: [1, 2, 3, 4])
        #expect(try encode(small, encoder: encoder) == #"{"00420011":{"vr":"OB","InlineBinary":"AQIDBA=="}}"#)
        let large = DataElement(tag: .encapsulatedDocument, vr: .OB, bytes: [1, 2, 3, 4, 5, 6])
        #expect(try encode(large, encoder: encoder) == #"{"00420011":{"vr":"OB","BulkDataURI":"https://pacs.example/bulk/00420011"}}"#)
    }

    @Test func bulkDataURIsNameNestedPaths() throws {
        let encoder = DICOMJSONEncoder(bulkData: Self.policy)
        let icon = DataSet(elements: [DataElement(tag: .pixelData, vr: .OW, bytes: Array(repeating: 1, count: 8))])
        let text = try encode(DataElement(tag: .iconImageSequence, vr: .SQ, value: .sequence([DataSet(), icon])), encoder: encoder)
        let items = try #require(try attribute(text, "00880200")["Value"] as? [[String: Any]])
        let pixel = try #require(items[1]["7FE00010"] as? [String: Any])
        #expect(pixel["BulkDataURI"] as? String == "https://pacs.example/bulk/00880200/1/7FE00010")
        #expect(pixel["InlineBinary"] == nil)
    }

    @Test func inlinesEverythingWithoutAPolicy() throws {
        let bytes = (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let text = try encode(DataElement(tag: .encapsulatedDocument, vr: .OB, bytes: bytes))
        let inline = try #require(try attribute(text, "00420011")["InlineBinary"] as? String)
        #expect(Data(base64Encoded: inline).map { [UInt8]($0) } == bytes)
    }

    @Test func padsBase64Correctly() throws {
        for (bytes, expected) in [([UInt8]([0x01]), "AQ=="), ([0x01, 0x02], "AQI="), ([0x01, 0x02, 0x03], "AQID"),
                                  ([0xFF, 0xFE, 0xFD, 0xFC], "//79/A==")] {
            let text = try encode(DataElement(tag: .encapsulatedDocument, vr: .OB, bytes: bytes))
            #expect(text == #"{"00420011":{"vr":"OB","InlineBinary":"\#(expected)"}}"#)
        }
    }

    @Test func neverLinksTextOrNumbersAsBulkData() throws {
        let encoder = DICOMJSONEncoder(bulkData: Self.policy)
        let text = try encode(element(.imageComments, .LT, "a long comment, far above the threshold"),
                              DataElement(tag: .rows, vr: .US, bytes: [1, 0, 2, 0, 3, 0]), encoder: encoder)
        #expect(!text.contains("BulkDataURI"))
        #expect(text.contains(#""Value":["a long comment, far above the threshold"]"#))
    }

    @Test func linksDeferredValuesAndLoadsThemWhenInlined() throws {
        let deferred = DataElement(tag: .encapsulatedDocument, vr: .OB,
                                   value: .bytes(.deferred(BulkDataReference(offset: 10, length: 2))))
        let linked = try encode(deferred, encoder: DICOMJSONEncoder(bulkData: Self.policy))
        #expect(linked == #"{"00420011":{"vr":"OB","BulkDataURI":"https://pacs.example/bulk/00420011"}}"#)

        let loading = DICOMJSONEncoder(load: { reference in
            #expect(reference.offset == 10)
            return [0xAB, 0xCD]
        })
        #expect(try encode(deferred, encoder: loading) == #"{"00420011":{"vr":"OB","InlineBinary":"q80="}}"#)

        let error = #expect(throws: DICOMParseError.self) { try encode(deferred) }
        #expect(error?.code == .io)
    }

    /// PS3.18 F.2.7: InlineBinary is for OB, OD, OF, OL, OV, OW and UN only; a float value that the
    /// reader left in the file must still come out as numbers once it is loaded.
    @Test func encodesLoadedDeferredFloatsAsNumbers() throws {
        let values: [Double] = [0.5, -1, 2.25]
        let stored = NumericValue.encode(values.map(\.bitPattern), size: 8)
        let deferred = DataElement(tag: Tag(0x0018, 0x9089), vr: .FD,   // Diffusion Gradient Orientation
                                   value: .bytes(.deferred(BulkDataReference(offset: 0, length: stored.count))))
        let text = try encode(deferred, encoder: DICOMJSONEncoder(load: { _ in stored }))
        #expect(text == #"{"00189089":{"vr":"FD","Value":[0.5,-1,2.25]}}"#)
    }

    @Test func inlinesEncapsulatedPixelDataAsItemStream() throws {
        let pixels = EncapsulatedPixelData(basicOffsetTable: [], fragments: [.loaded([0xFF, 0xD8])])
        let element = DataElement(tag: .pixelData, vr: .OB, value: .encapsulated(pixels))
        let text = try encode(element)
        let inline = try #require(try attribute(text, "7FE00010")["InlineBinary"] as? String)
        let expected: [UInt8] = [0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0x00, 0xE0, 2, 0, 0, 0, 0xFF, 0xD8]
        #expect(Data(base64Encoded: inline).map { [UInt8]($0) } == expected)
        let linked = try encode(element, encoder: DICOMJSONEncoder(bulkData: Self.policy))
        #expect(linked == #"{"7FE00010":{"vr":"OB","BulkDataURI":"https://pacs.example/bulk/7FE00010"}}"#)
    }

    // MARK: Strings and structure

    @Test func escapesJSONStrings() throws {
        let original = "say \"hi\" \\ back\nslash\ttab\rcr\u{01}ctl/é"
        let text = try encode(element(.imageComments, .LT, original), characterSet: .utf8)
        #expect(text.contains(#"say \"hi\" \\ back\nslash\ttab\rcr\u0001ctl/é"#))
        #expect(try attribute(text, "00204000")["Value"] as? [String] == [original])
    }

    @Test func trimsPaddingButKeepsSignificantSpaces() throws {
        let text = try encode(element(.patientID, .LO, "  ID 7  "), element(.imageComments, .LT, "  indented  "),
                              element(.sopInstanceUID, .UI, "1.2.3\0"))
        #expect(try attribute(text, "00100020")["Value"] as? [String] == ["ID 7"])
        #expect(try attribute(text, "00204000")["Value"] as? [String] == ["  indented"])
        #expect(try attribute(text, "00080018")["Value"] as? [String] == ["1.2.3"])
    }

    @Test func writesKeysInTagOrderAsUpperCaseHex() throws {
        let text = try encode(DataElement(tag: .pixelData, vr: .OW, bytes: [0, 0]),
                              element(Tag(0x0009, 0x0010), .LO, "ACME"),
                              element(.patientName, .PN, "A"),
                              element(.studyInstanceUID, .UI, "1.2"))
        let keys = ["\"00090010\"", "\"00100010\"", "\"0020000D\"", "\"7FE00010\""]
        let positions = keys.compactMap { text.range(of: $0)?.lowerBound }
        #expect(positions.count == 4)
        #expect(positions == positions.sorted())
        #expect(try attribute(text, "00090010")["vr"] as? String == "LO")
    }

    @Test func encodesSeveralDataSetsAsAnArray() throws {
        let a = DataSet(elements: [element(.patientID, .LO, "A ")])
        let b = DataSet(elements: [element(.patientID, .LO, "B ")])
        let text = try DICOMJSONEncoder().encode([a, b])
        #expect(text == #"[{"00100020":{"vr":"LO","Value":["A"]}},{"00100020":{"vr":"LO","Value":["B"]}}]"#)
        #expect(try DICOMJSONEncoder().encode([DataSet]()) == "[]")
        #expect(try DICOMJSONEncoder().encode(DataSet()) == "{}")
    }

    @Test func encodesRealFileAsValidJSON() throws {
        let file = try Part10Reader.read(path: FixturePaths.path("charsets/iso2022_ir87.dcm"))
        let text = try DICOMJSONEncoder(bulkData: Self.policy).encode(file.dataSet)
        let names = try #require(try attribute(text, "00100010")["Value"] as? [[String: String]])
        #expect(names.first?["Ideographic"] == "山田^太郎")
        let pixels = try attribute(text, "7FE00010")
        #expect(pixels["BulkDataURI"] as? String == "https://pacs.example/bulk/7FE00010")
    }
}
