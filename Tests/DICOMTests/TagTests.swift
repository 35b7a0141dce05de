import Testing
@testable import DICOM

@Suite struct TagTests {
    @Test func hexStringIsEightUpperCaseHexDigits() {
        #expect(Tag(0x7FE0, 0x0010).hexString == "7FE00010")
        #expect(Tag(0x0008, 0x000A).hexString == "0008000A")
        #expect(Tag(0x0020, 0x000D).hexString == "0020000D")
        #expect(Tag(0x0000, 0x0000).hexString == "00000000")
        #expect(Tag(0xFFFE, 0xE0DD).hexString == "FFFEE0DD")
        #expect(Tag(0xABCD, 0xEF01).hexString == "ABCDEF01")
    }

    @Test func descriptionIsParenthesizedGroupAndElement() {
        #expect(Tag(0x0010, 0x0010).description == "(0010,0010)")
        #expect(Tag(0x7FE0, 0x0010).description == "(7FE0,0010)")
        #expect("\(Tag(0x0009, 0x10AB))" == "(0009,10AB)")
    }

    @Test func rawValuePacksGroupAboveElement() {
        let tag = Tag(rawValue: 0x0020_000D)
        #expect(tag.group == 0x0020)
        #expect(tag.element == 0x000D)
        #expect(tag.rawValue == 0x0020_000D)
        #expect(Tag(0xFFFE, 0xE000).rawValue == 0xFFFE_E000)
    }

    @Test func hexInitializerParsesEightHexDigits() {
        #expect(Tag(hex: "0020000D") == Tag(0x0020, 0x000D))
        #expect(Tag(hex: "0020000d") == Tag(0x0020, 0x000D))
        #expect(Tag(hex: "7FE00010") == .pixelData)
        #expect(Tag(hex: Tag(0x0009, 0x1001).hexString) == Tag(0x0009, 0x1001))
    }

    @Test func hexInitializerRejectsWrongLengthAndNonHex() {
        #expect(Tag(hex: "0020000") == nil)
        #expect(Tag(hex: "0020000D0") == nil)
        #expect(Tag(hex: "") == nil)
        #expect(Tag(hex: "GGGGEEEE") == nil)
        #expect(Tag(hex: "0010 0010") == nil)
        #expect(Tag(hex: "(0010,0010)") == nil)
    }

    /// DICOM JSON keys and QIDO keys are exactly 8 hex digits; a sign is not a hex digit.
    @Test func hexInitializerRejectsSignedText() {
        #expect(Tag(hex: "+0100010") == nil)
        #expect(Tag(hex: "-0000000") == nil)
    }

    @Test func keywordLookupFindsPublicTags() {
        #expect(Tag(keyword: "PatientName") == Tag(0x0010, 0x0010))
        #expect(Tag(keyword: "StudyInstanceUID") == Tag(0x0020, 0x000D))
        #expect(Tag(keyword: "PixelData") == Tag(0x7FE0, 0x0010))
        #expect(Tag(keyword: "TransferSyntaxUID") == Tag(0x0002, 0x0010))
        #expect(Tag(keyword: "ReferencedStudySequence") == Tag(0x0008, 0x1110))
    }

    @Test func keywordLookupRejectsUnknownAndRepeatingGroupKeywords() {
        #expect(Tag(keyword: "NotAKeyword") == nil)
        #expect(Tag(keyword: "") == nil)
        #expect(Tag(keyword: "patientname") == nil)
        // Repeating-group keywords name a family of tags, not one tag.
        #expect(Tag(keyword: "OverlayData") == nil)
        #expect(Tag(keyword: "CurveData") == nil)
    }

    @Test func dictionaryKeywordForTagIsTheInverseOfKeywordLookup() throws {
        #expect(DataDictionary.keyword(for: Tag(0x0010, 0x0010)) == "PatientName")
        #expect(DataDictionary.keyword(for: .sopInstanceUID) == "SOPInstanceUID")
        #expect(DataDictionary.keyword(for: Tag(0x6002, 0x3000)) == "OverlayData")
        #expect(DataDictionary.keyword(for: Tag(0x0009, 0x0010)) == nil)
        #expect(DataDictionary.keyword(for: Tag(0x0009, 0x1001)) == nil)
        for keyword in ["PatientID", "Modality", "Rows", "SeriesInstanceUID", "SpecificCharacterSet"] {
            let tag = try #require(Tag(keyword: keyword))
            #expect(DataDictionary.keyword(for: tag) == keyword)
        }
    }

    @Test func oddGroupsArePrivate() {
        #expect(Tag(0x0009, 0x0010).isPrivate)
        #expect(Tag(0x0029, 0x1010).isPrivate)
        #expect(!Tag(0x0010, 0x0010).isPrivate)
        #expect(!Tag(0x7FE0, 0x0010).isPrivate)
    }

    @Test func privateCreatorRangeIs0010Through00FF() {
        #expect(Tag(0x0009, 0x0010).isPrivateCreator)
        #expect(Tag(0x0009, 0x00FF).isPrivateCreator)
        #expect(!Tag(0x0009, 0x000F).isPrivateCreator)
        #expect(!Tag(0x0009, 0x0100).isPrivateCreator)
        #expect(!Tag(0x0009, 0x1010).isPrivateCreator)
        // Even groups have no private creators.
        #expect(!Tag(0x0010, 0x0010).isPrivateCreator)
    }

    @Test func privateElementMapsToItsCreatorBlock() {
        #expect(Tag(0x0009, 0x1010).privateCreatorTag == Tag(0x0009, 0x0010))
        #expect(Tag(0x0009, 0x10FF).privateCreatorTag == Tag(0x0009, 0x0010))
        #expect(Tag(0x0029, 0x2001).privateCreatorTag == Tag(0x0029, 0x0020))
        #expect(Tag(0x0029, 0xFF00).privateCreatorTag == Tag(0x0029, 0x00FF))
        // Creators themselves, reserved elements and public tags have no creator.
        #expect(Tag(0x0009, 0x0010).privateCreatorTag == nil)
        #expect(Tag(0x0009, 0x0005).privateCreatorTag == nil)
        #expect(Tag(0x0009, 0x0FFF).privateCreatorTag == nil)
        #expect(Tag(0x0010, 0x1010).privateCreatorTag == nil)
    }

    @Test func groupLengthIsElementZero() {
        #expect(Tag(0x0002, 0x0000).isGroupLength)
        #expect(Tag(0x0008, 0x0000).isGroupLength)
        #expect(!Tag(0x0008, 0x0001).isGroupLength)
    }

    @Test func ordersByGroupThenElement() {
        let unsorted = [Tag(0x7FE0, 0x0010), Tag(0x0010, 0x0010), Tag(0x0008, 0x0018), Tag(0x0009, 0xFFFF),
                        Tag(0x0008, 0x0005), Tag(0x000A, 0x0000), Tag(0x0010, 0x0001)]
        #expect(unsorted.sorted() == [Tag(0x0008, 0x0005), Tag(0x0008, 0x0018), Tag(0x0009, 0xFFFF),
                                      Tag(0x000A, 0x0000), Tag(0x0010, 0x0001), Tag(0x0010, 0x0010),
                                      Tag(0x7FE0, 0x0010)])
        #expect(Tag(0x0008, 0xFFFF) < Tag(0x0009, 0x0000))
        #expect(!(Tag(0x0010, 0x0010) < Tag(0x0010, 0x0010)))
        // Group 0xFFFE sorts after everything in the dataset's groups (unsigned comparison).
        #expect(Tag(0x7FE0, 0x0010) < Tag(0xFFFE, 0xE000))
    }

    @Test func equalTagsHashEqually() {
        let set: Set<DICOM.Tag> = [Tag(0x0010, 0x0010), Tag(rawValue: 0x0010_0010), .patientName]
        #expect(set.count == 1)
    }
}
