import Foundation
import Testing
@testable import DICOM

@Suite struct SpecificCharacterSetTests {
    /// The files in `Fixtures/charsets/` (each is a key of `expected.json`).
    static let fixtureNames = [
        "gb18030.dcm", "iso2022_ir13_ir87.dcm", "iso2022_ir149.dcm", "iso2022_ir87.dcm",
        "iso_ir_100.dcm", "iso_ir_101.dcm", "iso_ir_126.dcm", "iso_ir_127.dcm",
        "iso_ir_138.dcm", "iso_ir_144.dcm", "iso_ir_148.dcm", "iso_ir_192.dcm",
    ]

    struct Expected: Decodable {
        let SpecificCharacterSet: [String]
        let PatientName: String
        let StudyDescription: String
        let InstitutionName: String
    }

    static func expectations() throws -> [String: Expected] {
        let data = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("charsets/expected.json")))
        return try JSONDecoder().decode([String: Expected].self, from: data)
    }

    // MARK: Fixtures

    @Test func fixtureListMatchesExpectedJSONAndDirectory() throws {
        let expected = try Self.expectations()
        #expect(Set(expected.keys) == Set(Self.fixtureNames))
        let files = try FileManager.default.contentsOfDirectory(atPath: FixturePaths.path("charsets"))
            .filter { $0.hasSuffix(".dcm") }
        #expect(Set(files) == Set(Self.fixtureNames))
    }

    @Test(arguments: fixtureNames)
    func decodesCharsetFixtureAsExpected(name: String) throws {
        let expected = try #require(try Self.expectations()[name])
        let file = try Part10Reader.read(path: FixturePaths.path("charsets/\(name)"))
        let dataSet = file.dataSet
        #expect(dataSet.characterSet.terms == expected.SpecificCharacterSet)
        #expect(dataSet.characterSet.unknownTerms == [])
        #expect(dataSet.strings(.specificCharacterSet) == expected.SpecificCharacterSet)
        #expect(dataSet.string(.patientName) == expected.PatientName)
        #expect(dataSet.string(.studyDescription) == expected.StudyDescription)
        #expect(dataSet.string(.institutionName) == expected.InstitutionName)
    }

    // MARK: Single-byte repertoires

    @Test func decodesLatin1Umlaut() {
        let bytes: [UInt8] = [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72]   // "Müller" in ISO 8859-1
        let latin1 = SpecificCharacterSet(terms: ["ISO_IR 100"])
        #expect(!latin1.usesCodeExtensions)
        #expect(latin1.decode(bytes) == "Müller")
        #expect(latin1.encode("Müller") == bytes)
    }

    @Test func decodesLatin1ThroughDataSetAccessors() {
        var dataSet = DataSet(characterSet: SpecificCharacterSet(terms: ["ISO_IR 100"]))
        dataSet.set(DataElement(tag: .patientName, vr: .PN, bytes: [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72, 0x5E, 0x4A]))
        #expect(dataSet.string(.patientName) == "Müller^J")
        dataSet.setString(.institutionName, vr: .LO, "Süd")
        #expect(dataSet[.institutionName]?.bytes == [0x53, 0xFC, 0x64, 0x20])
        #expect(dataSet.string(.institutionName) == "Süd")
    }

    @Test func decodesOtherISO8859Parts() {
        #expect(SpecificCharacterSet(terms: ["ISO_IR 144"]).decode([0xB8, 0xD2, 0xD0, 0xDD, 0xDE, 0xD2]) == "Иванов")
        #expect(SpecificCharacterSet(terms: ["ISO_IR 126"]).decode(
            [0xD0, 0xE1, 0xF0, 0xE1, 0xE4, 0xFC, 0xF0, 0xEF, 0xF5, 0xEB, 0xEF, 0xF2]) == "Παπαδόπουλος")
        #expect(SpecificCharacterSet(terms: ["ISO_IR 148"]).decode([0xD6, 0x7A, 0x74, 0xFC, 0x72, 0x6B]) == "Öztürk")
    }

    @Test func decodesDefaultRepertoireHighBytesAsLatin1() {
        #expect(SpecificCharacterSet.default.decode([0x4D, 0xFC]) == "Mü")
        #expect(SpecificCharacterSet.default.decode(Array("Doe^John".utf8)) == "Doe^John")
    }

    @Test func decodesUTF8() {
        let text = "Gonçalves^Zoë=李^小龍"
        let utf8 = SpecificCharacterSet(terms: ["ISO_IR 192"])
        #expect(utf8 == .utf8)
        #expect(utf8.decode(Array(text.utf8)) == text)
        #expect(utf8.encode(text) == Array(text.utf8))
    }

    @Test func decodesJISX0201Katakana() {
        let katakana = SpecificCharacterSet(terms: ["ISO_IR 13"])
        #expect(katakana.decode([0xD4, 0xCF, 0xC0, 0xDE]) == "ﾔﾏﾀﾞ")
    }

    // MARK: ISO 2022 code extensions

    /// PS3.5 Annex H, Example 1: bytes exactly as the standard lists them.
    static let annexHBytes: [UInt8] = [
        0x59, 0x61, 0x6D, 0x61, 0x64, 0x61, 0x5E, 0x54, 0x61, 0x72, 0x6F, 0x75, 0x3D,
        0x1B, 0x24, 0x42, 0x3B, 0x33, 0x45, 0x44, 0x1B, 0x28, 0x42, 0x5E,
        0x1B, 0x24, 0x42, 0x42, 0x40, 0x4F, 0x3A, 0x1B, 0x28, 0x42, 0x3D,
        0x1B, 0x24, 0x42, 0x24, 0x64, 0x24, 0x5E, 0x24, 0x40, 0x1B, 0x28, 0x42, 0x5E,
        0x1B, 0x24, 0x42, 0x24, 0x3F, 0x24, 0x6D, 0x24, 0x26, 0x1B, 0x28, 0x42,
    ]

    @Test func decodesJapanesePersonNameWithEscapes() throws {
        let charset = SpecificCharacterSet(rawValue: Array("\\ISO 2022 IR 87".utf8))
        #expect(charset.terms == ["", "ISO 2022 IR 87"])
        #expect(charset.usesCodeExtensions)
        let text = charset.decode(Self.annexHBytes)
        #expect(text == "Yamada^Tarou=山田^太郎=やまだ^たろう")

        let name = PersonName(text)
        #expect(name.groups.count == 3)
        #expect(name.alphabetic?.familyName == "Yamada")
        #expect(name.alphabetic?.givenName == "Tarou")
        #expect(name.ideographic?.familyName == "山田")
        #expect(name.ideographic?.givenName == "太郎")
        #expect(name.phonetic?.familyName == "やまだ")
        #expect(name.phonetic?.givenName == "たろう")
    }

    @Test func decodesJapanesePersonNameInAParsedDataSet() throws {
        let b = ByteStreamBuilder(.explicitLittle)
        let body = b.text(.specificCharacterSet, .CS, "\\ISO 2022 IR 87")
            + b.rawText(.patientName, .PN, Self.annexHBytes)
        let file = try Part10Reader.read(bytes: ByteStreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1", body: body))
        #expect(file.dataSet.string(.patientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう")
    }

    @Test func splitsMultipleValuesAfterEscapeSequences() {
        // 山田 in JIS X 0208, back to ASCII, then a second value.
        let bytes: [UInt8] = [0x1B, 0x24, 0x42, 0x3B, 0x33, 0x45, 0x44, 0x1B, 0x28, 0x42, 0x5C,
                              0x59, 0x61, 0x6D, 0x61, 0x64, 0x61]
        let charset = SpecificCharacterSet(terms: ["", "ISO 2022 IR 87"])
        #expect(TextValue.decode(bytes, vr: .LO, characterSet: charset) == ["山田", "Yamada"])
    }

    /// PS3.5 Annex I: Korean with ISO 2022 IR 149 designated into G1 before each Hangul/Hanja run.
    @Test func decodesKoreanPersonName() {
        let bytes: [UInt8] = [
            0x48, 0x6F, 0x6E, 0x67, 0x5E, 0x47, 0x69, 0x6C, 0x64, 0x6F, 0x6E, 0x67, 0x3D,
            0x1B, 0x24, 0x29, 0x43, 0xFB, 0xF3, 0x5E, 0x1B, 0x24, 0x29, 0x43, 0xD1, 0xCE, 0xD4, 0xD7, 0x3D,
            0x1B, 0x24, 0x29, 0x43, 0xC8, 0xAB, 0x5E, 0x1B, 0x24, 0x29, 0x43, 0xB1, 0xE6, 0xB5, 0xBF,
        ]
        let charset = SpecificCharacterSet(terms: ["", "ISO 2022 IR 149"])
        let text = charset.decode(bytes)
        #expect(text == "Hong^Gildong=洪^吉洞=홍^길동")
        let name = PersonName(text)
        #expect(name.ideographic?.familyName == "洪")
        #expect(name.phonetic?.givenName == "길동")
    }

    @Test func decodesGB18030() {
        let bytes: [UInt8] = [0x57, 0x61, 0x6E, 0x67, 0x5E, 0x58, 0x69, 0x61, 0x6F, 0x44, 0x6F, 0x6E, 0x67, 0x3D,
                              0xCD, 0xF5, 0x5E, 0xD0, 0xA1, 0xB6, 0xAB, 0x20]
        let charset = SpecificCharacterSet(terms: ["GB18030"])
        #expect(!charset.usesCodeExtensions)
        #expect(TextValue.decode(bytes, vr: .PN, characterSet: charset) == ["Wang^XiaoDong=王^小东"])
    }

    @Test func decodesG1DesignatedByEscapeSequence() {
        // ISO 2022 IR 100 designated with ESC - A, then Latin-1 bytes.
        let bytes: [UInt8] = [0x4D, 0x1B, 0x2D, 0x41, 0xFC, 0x6C, 0x6C, 0x65, 0x72]
        let charset = SpecificCharacterSet(terms: ["ISO 2022 IR 6", "ISO 2022 IR 100"])
        #expect(charset.decode(bytes) == "Müller")
    }

    @Test func decodesLatin1UnderCodeExtensionsWithoutEscapes() {
        let charset = SpecificCharacterSet(terms: ["ISO 2022 IR 100"])
        #expect(charset.usesCodeExtensions)
        #expect(charset.decode([0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72]) == "Müller")
    }

    @Test func reportsUnknownTerms() {
        #expect(SpecificCharacterSet(terms: ["ISO_IR 999"]).unknownTerms == ["ISO_IR 999"])
        #expect(SpecificCharacterSet(terms: ["", "ISO 2022 IR 87", "ISO 2022 IR 159"]).unknownTerms == [])
        #expect(SpecificCharacterSet(terms: ["ISO_IR 192"]).unknownTerms == [])
        #expect(SpecificCharacterSet(terms: [" ISO_IR 100 "]).terms == ["ISO_IR 100"])
    }

    @Test func describesItselfAsTheAttributeValue() {
        #expect(SpecificCharacterSet(terms: ["", "ISO 2022 IR 149"]).description == "\\ISO 2022 IR 149")
        #expect(SpecificCharacterSet.default.description == "")
    }

    // MARK: Encoding

    /// What `DataSet.setString` writes must read back as the same text under the same character set.
    @Test(arguments: [
        (["ISO_IR 100"], "Müller^Jürgen"),
        (["ISO_IR 144"], "Иванов^Сергей"),
        (["ISO_IR 192"], "Gonçalves^Zoë=李^小龍"),
        (["GB18030"], "Wang^XiaoDong=王^小东"),
        (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        (["", "ISO 2022 IR 149"], "Hong^Gildong=洪^吉洞=홍^길동"),
    ])
    func encodedTextDecodesToTheSameText(terms: [String], text: String) {
        let charset = SpecificCharacterSet(terms: terms)
        var dataSet = DataSet(characterSet: charset)
        dataSet.setString(.patientName, vr: .PN, text)
        #expect(dataSet.string(.patientName) == text, "\(charset): \(dataSet[.patientName]?.bytes ?? [])")
    }

    // MARK: Person names

    @Test func splitsPersonNameComponents() {
        let name = PersonName("Doe^John^Q^Dr^Jr")
        #expect(name.groups.count == 1)
        let group = name.alphabetic
        #expect(group?.familyName == "Doe")
        #expect(group?.givenName == "John")
        #expect(group?.middleName == "Q")
        #expect(group?.namePrefix == "Dr")
        #expect(group?.nameSuffix == "Jr")
        #expect(group?.components == ["Doe", "John", "Q", "Dr", "Jr"])
        #expect(name.ideographic == nil)
        #expect(name.phonetic == nil)
    }

    @Test func missingPersonNameComponentsAreEmpty() {
        let name = PersonName("Doe")
        #expect(name.alphabetic?.familyName == "Doe")
        #expect(name.alphabetic?.givenName == "")
        #expect(name.alphabetic?.nameSuffix == "")
        let skipped = PersonName("Doe^^^Dr")
        #expect(skipped.alphabetic?.givenName == "")
        #expect(skipped.alphabetic?.namePrefix == "Dr")
    }

    @Test func dropsTrailingEmptyPersonNameGroups() {
        let name = PersonName("Yamada^Tarou==")
        #expect(name.groups.count == 1)
        #expect(name.description == "Yamada^Tarou")
        let ideographicOnly = PersonName("=山田^太郎")
        #expect(ideographicOnly.groups.count == 2)
        #expect(ideographicOnly.alphabetic?.rawValue == "")
        #expect(ideographicOnly.ideographic?.familyName == "山田")
        #expect(ideographicOnly.description == "=山田^太郎")
    }
}
