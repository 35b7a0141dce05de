import DICOM
import Foundation
import Testing

@Suite struct DICOMJSONDecoderTests {
    func decode(_ json: String, resolver: (@Sendable (String, DICOM.Tag, VR) throws -> [UInt8])? = nil) throws -> DataSet {
        try DICOMJSONDecoder(resolveBulkData: resolver).decode(Data(json.utf8))
    }

    @Test func decodesTextPersonNamesAndNumbers() throws {
        let ds = try decode(#"""
        {"00100010":{"vr":"PN","Value":[{"Alphabetic":"Yamada^Tarou","Ideographic":"山田^太郎"}]},
         "00080060":{"vr":"CS","Value":["MR"]},
         "00200013":{"vr":"IS","Value":[7]},
         "00280030":{"vr":"DS","Value":[0.5, 1.50]},
         "00280010":{"vr":"US","Value":[512]},
         "00189089":{"vr":"FD","Value":[221.36400640010834]},
         "00209165":{"vr":"AT","Value":["00100020"]}}
        """#)
        #expect(ds.string(.patientName) == "Yamada^Tarou=山田^太郎")
        #expect(ds.string(.specificCharacterSet) == "ISO_IR 192") // non-ASCII text is labelled UTF-8
        #expect(ds.int(.instanceNumber) == 7)
        #expect(ds.strings(.pixelSpacing) == ["0.5", "1.50"]) // DS keeps the digits the JSON wrote
        #expect(ds.int(.rows) == 512)
        let fd = try #require(ds[Tag(0x0018, 0x9089)]?.bytes)
        #expect(NumericValue.doubles(fd, vr: .FD) == [221.36400640010834]) // no binary rounding
        #expect(ValueParsing.attributeTags(try #require(ds[Tag(0x0020, 0x9165)]?.bytes)) == [.patientID])
    }

    @Test func decodesNullsEmptyValuesSequencesAndInlineBinary() throws {
        let ds = try decode(#"""
        {"00080008":{"vr":"CS","Value":["ORIGINAL",null,"AXIAL"]},
         "00080050":{"vr":"SH"},
         "00081115":{"vr":"SQ","Value":[{"0020000E":{"vr":"UI","Value":["1.2.3"]}}]},
         "00420011":{"vr":"OB","InlineBinary":"q80="}}
        """#)
        #expect(ds.strings(.imageType) == ["ORIGINAL", "", "AXIAL"])
        #expect(ds[.accessionNumber]?.isEmpty == true)
        #expect(ds[.referencedSeriesSequence]?.items?.first?.string(.seriesInstanceUID) == "1.2.3")
        #expect(ds[.encapsulatedDocument]?.bytes == [0xAB, 0xCD])
    }

    @Test func resolvesBulkDataURIsThroughTheCaller() throws {
        let ds = try decode(#"{"7FE00010":{"vr":"OW","BulkDataURI":"http://x/bulk/1"}}"#) { uri, tag, vr in
            #expect(uri == "http://x/bulk/1" && tag == .pixelData && vr == .OW)
            return [1, 2, 3, 4]
        }
        #expect(ds[.pixelData]?.bytes == [1, 2, 3, 4])
        let error = #expect(throws: DICOMParseError.self) {
            try decode(#"{"7FE00010":{"vr":"OW","BulkDataURI":"http://x/bulk/1"}}"#)
        }
        #expect(error?.tag == .pixelData)
    }

    @Test(arguments: [
        "[1,2",                                                   // not JSON
        #"{"00100010":{"vr":"PN","Value":[{"Alphabetic":"a"}]},}"#, // trailing comma
        #"{"0010001":{"vr":"PN"}}"#,                              // 7-digit tag
        #"{"+0100010":{"vr":"PN"}}"#,                             // signed tag
        #"{"00100010":{"vr":"XX"}}"#,                             // unknown VR
        #"{"00280010":{"vr":"US","Value":[70000]}}"#,            // US out of range
        #"{"00280010":{"vr":"US","Value":["512"]}}"#,            // number as string
        #"{"00200013":{"vr":"IS","Value":[1.5]}}"#,              // IS not an integer
        #"{"00080060":{"vr":"CS","Value":[5]}}"#,                // text as number
        #"{"00080060":{"vr":"CS","Value":"CT"}}"#,               // Value not an array
        #"{"00420011":{"vr":"OB","InlineBinary":"@@@"}}"#,       // not Base64
        #"{"00420011":{"vr":"OB","Value":[1]}}"#,                // binary VR with Value
        #"{"00081115":{"vr":"SQ","Value":[5]}}"#,                // item not an object
        #"{"00209165":{"vr":"AT","Value":["0010"]}}"#,           // AT not 8 hex digits
        #"{"00100010":{"vr":"PN","Value":[true]}}"#,             // PN as boolean
    ])
    func rejectsMalformedJSONWithAnInvalidValueError(_ json: String) {
        let error = #expect(throws: DICOMParseError.self) { try decode(json) }
        #expect(error?.code == .invalidValue)
    }

    @Test func rejectsNestingDeeperThanTheLimit() {
        let deep = String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)
        #expect(throws: DICOMParseError.self) { try DICOMJSONDecoder().decodeArray(Data(deep.utf8)) }
    }

    @Test func encodeDecodeKeepsEveryValueOfTheCTFixture() throws {
        let path = RealFileCorpus.fixturesDirectory.appendingPathComponent("ct/ct_0001.dcm").path
        let original = try Part10Reader.read(path: path).dataSet
        let json = try DICOMJSONEncoder().encode(original)
        let decoded = try DICOMJSONDecoder().decode(Data(json.utf8))
        #expect(try DICOMJSONEncoder().encode(decoded) == json)
        #expect(decoded[.pixelData]?.bytes == original[.pixelData]?.bytes)
    }
}
