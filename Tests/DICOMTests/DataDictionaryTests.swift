import Testing
@testable import DICOM

@Suite struct DataDictionaryTests {
    @Test func holdsTheWholePS36Dictionary() {
        let entries = DataDictionary.allEntries
        #expect(entries.count > 5000)
        let fixed = entries.compactMap(\.fixedTag)
        #expect(Set(fixed).count == fixed.count, "a fixed tag appears twice")
        let repeating = entries.filter { $0.fixedTag == nil }
        #expect(repeating.count > 50, "repeating-group entries (50xx, 60xx, 7Fxx, ...) are missing")
        #expect(entries.allSatisfy { !$0.vm.isEmpty })
        // PS3.6 lists a handful of retired elements with no name or keyword; only those lack one.
        let anonymous = entries.filter { $0.keyword.isEmpty }
        #expect(anonymous.allSatisfy { $0.isRetired })
        #expect(anonymous.count < 10)
        #expect(DataDictionary.keyword(for: Tag(0x0028, 0x0020)) == nil)
    }

    @Test func everyFixedKeywordLooksUpItsOwnTag() {
        for entry in DataDictionary.allEntries {
            guard let tag = entry.fixedTag, !entry.keyword.isEmpty else { continue }
            #expect(Tag(keyword: entry.keyword) == tag, "\(entry.keyword)")
            #expect(DataDictionary.entry(for: tag) == entry)
        }
    }

    @Test func describesPatientName() throws {
        let entry = try #require(DataDictionary.entry(for: Tag(0x0010, 0x0010)))
        #expect(entry.keyword == "PatientName")
        #expect(entry.name == "Patient's Name")
        #expect(entry.vrs == [.PN])
        #expect(entry.vr == .PN)
        #expect(entry.vm == "1")
        #expect(!entry.isRetired)
        #expect(!entry.isAmbiguous)
        #expect(entry.fixedTag == Tag(0x0010, 0x0010))
        #expect(DataDictionary.entry(forKeyword: "PatientName") == entry)
    }

    @Test func overlayDataMatchesEveryOverlayGroup() throws {
        for group: UInt16 in [0x6000, 0x6002, 0x601E] {
            let entry = try #require(DataDictionary.entry(for: Tag(group, 0x3000)))
            #expect(entry.keyword == "OverlayData")
            #expect(entry.vrs == [.OB, .OW])
            #expect(entry.isAmbiguous)
            #expect(!entry.isRetired)
            #expect(entry.fixedTag == nil)
        }
        #expect(DataDictionary.entry(for: Tag(0x6002, 0x0010))?.keyword == "OverlayRows")
        #expect(DataDictionary.implicitVR(for: Tag(0x6002, 0x0010)) == .US)
        // Odd groups are private, never a repeating public group.
        #expect(DataDictionary.entry(for: Tag(0x6001, 0x3000)) == nil)
    }

    @Test func curveGroupsMatchTheirRetiredPatterns() throws {
        let curveData = try #require(DataDictionary.entry(for: Tag(0x5010, 0x3000)))
        #expect(curveData.keyword == "CurveData")
        #expect(curveData.vrs == [.OB, .OW])
        #expect(curveData.isRetired)
        let dimensions = try #require(DataDictionary.entry(for: Tag(0x5010, 0x0005)))
        #expect(dimensions.keyword == "CurveDimensions")
        #expect(dimensions.vr == .US)
        #expect(DataDictionary.implicitVR(for: Tag(0x5010, 0x2600)) == .SQ)
        #expect(DataDictionary.keyword(for: Tag(0x501E, 0x0022)) == "CurveDescription")
    }

    @Test func variablePixelDataGroupIsRepeatingButPixelDataIsFixed() throws {
        let variable = try #require(DataDictionary.entry(for: Tag(0x7F00, 0x0010)))
        #expect(variable.keyword == "VariablePixelData")
        #expect(variable.isRetired)
        #expect(DataDictionary.entry(for: Tag(0x7F02, 0x0011))?.keyword == "VariableNextDataGroup")
        // (7FE0,0010) is the fixed Pixel Data entry, not the 7Fxx pattern.
        let pixelData = try #require(DataDictionary.entry(for: Tag(0x7FE0, 0x0010)))
        #expect(pixelData.keyword == "PixelData")
        #expect(!pixelData.isRetired)
        // (7F01,0010) is in an odd group: a private creator, not Variable Pixel Data.
        #expect(DataDictionary.entry(for: Tag(0x7F01, 0x0010)) == nil)
        #expect(DataDictionary.implicitVR(for: Tag(0x7F01, 0x0010)) == .LO)
    }

    @Test func flagsRetiredEntries() {
        #expect(DataDictionary.entry(for: Tag(0x0020, 0x0030))?.isRetired == true)   // Image Position
        #expect(DataDictionary.entry(for: Tag(0x0020, 0x0032))?.isRetired == false)  // Image Position (Patient)
        #expect(DataDictionary.entry(for: Tag(0x0008, 0x0001))?.isRetired == true)   // Length to End
        #expect(DataDictionary.entry(for: .studyInstanceUID)?.isRetired == false)
    }

    @Test func listsAmbiguousVRsInStandardOrder() {
        #expect(DataDictionary.entry(for: .smallestImagePixelValue)?.vrs == [.US, .SS])
        #expect(DataDictionary.entry(for: Tag(0x0028, 0x3006))?.vrs == [.US, .OW])   // LUT Data
        #expect(DataDictionary.entry(for: .pixelData)?.vrs == [.OB, .OW])
        #expect(DataDictionary.entry(for: .pixelData)?.isAmbiguous == true)
        #expect(DataDictionary.entry(for: .rows)?.isAmbiguous == false)
        // Implicit VR reads the first listed VR until context resolves it.
        #expect(DataDictionary.implicitVR(for: .smallestImagePixelValue) == .US)
        #expect(DataDictionary.allEntries.filter(\.isAmbiguous).count >= 30)
    }

    @Test func implicitVRComesFromTheDictionary() {
        #expect(DataDictionary.implicitVR(for: .patientName) == .PN)
        #expect(DataDictionary.implicitVR(for: .rows) == .US)
        #expect(DataDictionary.implicitVR(for: .referencedStudySequence) == .SQ)
        #expect(DataDictionary.implicitVR(for: .sopInstanceUID) == .UI)
    }

    @Test func implicitVROfPrivateCreatorIsLO() {
        #expect(DataDictionary.implicitVR(for: Tag(0x0009, 0x0010)) == .LO)
        #expect(DataDictionary.implicitVR(for: Tag(0x0029, 0x00FF)) == .LO)
    }

    @Test func implicitVROfUnknownTagIsUN() {
        #expect(DataDictionary.implicitVR(for: Tag(0x0009, 0x1010)) == .UN)   // private data
        #expect(DataDictionary.implicitVR(for: Tag(0x0029, 0x0001)) == .UN)   // private, below the creator range
        #expect(DataDictionary.implicitVR(for: Tag(0x0010, 0xFFFF)) == .UN)   // unassigned public
        #expect(DataDictionary.entry(for: Tag(0x0010, 0xFFFF)) == nil)
        // Items and delimiters have no VR.
        #expect(DataDictionary.implicitVR(for: .item) == .UN)
    }

    @Test func groupLengthsAreUL() {
        #expect(DataDictionary.entry(for: .fileMetaInformationGroupLength)?.keyword == "FileMetaInformationGroupLength")
        #expect(DataDictionary.implicitVR(for: Tag(0x0008, 0x0000)) == .UL)
        #expect(DataDictionary.implicitVR(for: Tag(0x0028, 0x0000)) == .UL)
        #expect(DataDictionary.entry(for: Tag(0x0028, 0x0000))?.isRetired == true)
        // A private group's length is private.
        #expect(DataDictionary.entry(for: Tag(0x0009, 0x0000)) == nil)
    }

    @Test func generatedConstantsMatchTheStandard() {
        #expect(Tag.patientName == Tag(0x0010, 0x0010))
        #expect(Tag.patientID == Tag(0x0010, 0x0020))
        #expect(Tag.studyInstanceUID == Tag(0x0020, 0x000D))
        #expect(Tag.seriesInstanceUID == Tag(0x0020, 0x000E))
        #expect(Tag.sopInstanceUID == Tag(0x0008, 0x0018))
        #expect(Tag.transferSyntaxUID == Tag(0x0002, 0x0010))
        #expect(Tag.specificCharacterSet == Tag(0x0008, 0x0005))
        #expect(Tag.pixelData == Tag(0x7FE0, 0x0010))
        #expect(Tag.item == Tag(0xFFFE, 0xE000))
        #expect(Tag.itemDelimitationItem == Tag(0xFFFE, 0xE00D))
        #expect(Tag.sequenceDelimitationItem == Tag(0xFFFE, 0xE0DD))
    }
}
