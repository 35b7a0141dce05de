import Foundation
import Testing
@testable import DICOM

@Suite struct Part10WriterTests {
    static let secondaryCapture = "1.2.840.10008.5.1.4.1.1.7"

    /// One explicit VR little endian element header as written: tag, VR, value offset and length.
    struct WrittenElement {
        let tag: DICOM.Tag
        let vr: String
        let valueOffset: Int
        let length: UInt32
    }

    static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 { UInt32(u16(bytes, at)) | UInt32(u16(bytes, at + 2)) << 16 }

    /// Walks explicit VR little endian elements from `start` to `end` without entering values
    /// (the test datasets that use this have no sequences).
    static func walk(_ bytes: [UInt8], from start: Int, to end: Int) -> [WrittenElement] {
        var result: [WrittenElement] = []
        var pos = start
        while pos + 8 <= end {
            let tag = DICOM.Tag(u16(bytes, pos), u16(bytes, pos + 2))
            let vr = String(decoding: bytes[(pos + 4)..<(pos + 6)], as: UTF8.self)
            let long = VR(rawValue: vr)?.hasLongExplicitLength ?? true
            let length = long ? u32(bytes, pos + 8) : UInt32(u16(bytes, pos + 6))
            let valueOffset = pos + (long ? 12 : 8)
            result.append(WrittenElement(tag: tag, vr: vr, valueOffset: valueOffset, length: length))
            pos = valueOffset + Int(length)
        }
        return result
    }

    static func sampleDataSet() -> DataSet {
        var ds = DataSet()
        ds.setString(.sopClassUID, vr: .UI, secondaryCapture)
        ds.setString(.sopInstanceUID, vr: .UI, "2.25.271828182845904523536")
        ds.setString(.patientName, vr: .PN, "Doe^John")
        ds.setString(.patientID, vr: .LO, "MVNA-001")
        return ds
    }

    // MARK: File meta information

    @Test func writesImplicitVRLittleEndianThatReadsBackTheSame() throws {
        var ds = DataSet()
        ds.setString(.sopClassUID, vr: .UI, Self.secondaryCapture)
        ds.setString(.sopInstanceUID, vr: .UI, "2.25.77")
        ds.setString(.patientName, vr: .PN, "Doe^Jane")
        ds.set(DataElement(tag: .rows, vr: .US, bytes: NumericValue.encode([2], size: 2)))
        var item = DataSet()
        item.setString(.codeValue, vr: .SH, "113701")
        ds.set(DataElement(tag: .referencedSeriesSequence, vr: .SQ, value: .sequence([item])))
        ds.set(DataElement(tag: .pixelData, vr: .OW, bytes: [1, 2, 3, 4, 5, 6, 7, 8]))
        let bytes = try Part10Writer.write(ds, transferSyntaxUID: TransferSyntax.implicitVRLittleEndian.uid)
        let file = try Part10Reader.read(bytes: bytes)
        #expect(file.transferSyntaxUID == TransferSyntax.implicitVRLittleEndian.uid)
        #expect(file.dataSet.string(.patientName) == "Doe^Jane")
        #expect(file.dataSet.int(.rows) == 2)
        #expect(file.dataSet[.pixelData]?.bytes == [1, 2, 3, 4, 5, 6, 7, 8])
        if case .sequence(let items) = file.dataSet[.referencedSeriesSequence]?.value {
            #expect(items.first?.string(.codeValue) == "113701")
        } else {
            Issue.record("the sequence did not read back")
        }
        // No VR after the first dataset tag: group, element, then a 32-bit length.
        let metaLength = Int(Self.u32(bytes, 140))
        let first = 144 + metaLength
        #expect(Self.u16(bytes, first) == 0x0008 && Self.u16(bytes, first + 2) == 0x0016)
        #expect(Self.u32(bytes, first + 4) == UInt32(Self.secondaryCapture.utf8.count + 1))
        #expect(throws: DICOMParseError.self) {
            try Part10Writer.write(ds, transferSyntaxUID: TransferSyntax.explicitVRBigEndian.uid)
        }
    }

    @Test func writesPreambleAndDICMPrefix() throws {
        let bytes = try Part10Writer.write(Self.sampleDataSet())
        #expect(bytes.count > 132)
        #expect(bytes.prefix(128).allSatisfy { $0 == 0 })
        #expect(Array(bytes[128..<132]) == Array("DICM".utf8))
    }

    @Test func metaGroupLengthEqualsTheBytesThatFollow() throws {
        let bytes = try Part10Writer.write(Self.sampleDataSet())
        // (0002,0000) UL, length 4, then the group length value.
        #expect(Array(bytes[132..<140]) == [0x02, 0x00, 0x00, 0x00, 0x55, 0x4C, 0x04, 0x00])
        let groupLength = Int(Self.u32(bytes, 140))
        let metaStart = 144
        let metaEnd = metaStart + groupLength
        let meta = Self.walk(bytes, from: metaStart, to: metaEnd)
        #expect(!meta.isEmpty)
        #expect(meta.allSatisfy { $0.tag.group == 0x0002 })
        let last = try #require(meta.last)
        #expect(last.valueOffset + Int(last.length) == metaEnd, "group length must end exactly at the last meta element")
        // The first element after the meta group is the dataset's.
        #expect(Self.u16(bytes, metaEnd) == 0x0008)
        #expect(meta.map(\.tag) == meta.map(\.tag).sorted())
        #expect(meta.map(\.tag).contains(.fileMetaInformationVersion))
    }

    @Test func metaCarriesVersionSyntaxAndSOPIdentity() throws {
        let dataSet = Self.sampleDataSet()
        let file = try Part10Reader.read(bytes: try Part10Writer.write(dataSet))
        let meta = file.fileMetaInformation
        #expect(meta[.fileMetaInformationVersion]?.vr == .OB)
        #expect(meta[.fileMetaInformationVersion]?.bytes == [0x00, 0x01])
        #expect(meta.string(.transferSyntaxUID) == TransferSyntax.explicitVRLittleEndian.uid)
        #expect(meta.string(.mediaStorageSOPClassUID) == Self.secondaryCapture)
        #expect(meta.string(.mediaStorageSOPInstanceUID) == "2.25.271828182845904523536")
        #expect(meta.string(.implementationClassUID) == Part10Writer.implementationClassUID)
        #expect(meta.string(.implementationVersionName) == Part10Writer.implementationVersionName)
        #expect(UID.isValid(Part10Writer.implementationClassUID))
        #expect(meta.int(.fileMetaInformationGroupLength) != nil)
        #expect(file.transferSyntax == .explicitVRLittleEndian)
        #expect(file.warnings == [])
        #expect(file.dataSet == dataSet)
    }

    @Test func rebuildsMetaKeepingOnlyAllowedElements() throws {
        var oldMeta = DataSet()
        oldMeta.setString(.transferSyntaxUID, vr: .UI, TransferSyntax.implicitVRLittleEndian.uid)
        oldMeta.setString(.implementationClassUID, vr: .UI, "1.2.3.4")
        oldMeta.setString(.sourceApplicationEntityTitle, vr: .AE, "MODALITY1")
        oldMeta.setString(.mediaStorageSOPInstanceUID, vr: .UI, "9.9.9")
        let file = try Part10Reader.read(bytes: try Part10Writer.write(Self.sampleDataSet(), meta: oldMeta))
        let meta = file.fileMetaInformation
        #expect(meta.string(.transferSyntaxUID) == TransferSyntax.explicitVRLittleEndian.uid)
        #expect(meta.string(.implementationClassUID) == Part10Writer.implementationClassUID)
        #expect(meta.string(.sourceApplicationEntityTitle) == "MODALITY1")
        // The dataset's SOP Instance UID wins over a stale meta value.
        #expect(meta.string(.mediaStorageSOPInstanceUID) == "2.25.271828182845904523536")
    }

    @Test func takesSOPClassFromMetaWhenTheDataSetHasNone() throws {
        var dataSet = DataSet()
        dataSet.setString(.patientName, vr: .PN, "No^Class")
        var meta = DataSet()
        meta.setString(.mediaStorageSOPClassUID, vr: .UI, Self.secondaryCapture)
        meta.setString(.mediaStorageSOPInstanceUID, vr: .UI, "2.25.5")
        let file = try Part10Reader.read(bytes: try Part10Writer.write(dataSet, meta: meta))
        #expect(file.fileMetaInformation.string(.mediaStorageSOPClassUID) == Self.secondaryCapture)
        #expect(file.fileMetaInformation.string(.mediaStorageSOPInstanceUID) == "2.25.5")
    }

    @Test func dropsGroup0002ElementsFromTheDataSet() throws {
        var dataSet = Self.sampleDataSet()
        dataSet.setString(.transferSyntaxUID, vr: .UI, TransferSyntax.explicitVRBigEndian.uid)
        let file = try Part10Reader.read(bytes: try Part10Writer.write(dataSet))
        #expect(file.fileMetaInformation.string(.transferSyntaxUID) == TransferSyntax.explicitVRLittleEndian.uid)
        #expect(!file.dataSet.contains(.transferSyntaxUID))
    }

    @Test(arguments: [TransferSyntax.explicitVRBigEndian, .deflatedExplicitVRLittleEndian])
    func rejectsEncodingsOtherThanLittleEndianOnes(syntax: TransferSyntax) {
        let error = #expect(throws: DICOMParseError.self) {
            try Part10Writer.write(Self.sampleDataSet(), transferSyntaxUID: syntax.uid)
        }
        #expect(error?.code == .invalidValue)
    }

    // MARK: Values

    @Test func padsOddLengthValuesToEvenLength() throws {
        var dataSet = DataSet()
        dataSet.set(DataElement(tag: .sopInstanceUID, vr: .UI, bytes: Array("1.2.3".utf8)))
        dataSet.set(DataElement(tag: .patientName, vr: .PN, bytes: Array("Doe".utf8)))
        dataSet.set(DataElement(tag: .encapsulatedDocument, vr: .OB, bytes: [1, 2, 3]))
        dataSet.set(DataElement(tag: .textValue, vr: .UT, bytes: Array("odd".utf8)))
        let bytes = try Part10Writer.write(dataSet)
        let metaEnd = 144 + Int(Self.u32(bytes, 140))
        let elements = Self.walk(bytes, from: metaEnd, to: bytes.count)
        #expect(elements.map(\.tag) == [.sopInstanceUID, .patientName, .textValue, .encapsulatedDocument])
        #expect(elements.allSatisfy { $0.length % 2 == 0 })
        func value(_ tag: DICOM.Tag) -> [UInt8] {
            guard let e = elements.first(where: { $0.tag == tag }) else { return [] }
            return Array(bytes[e.valueOffset..<(e.valueOffset + Int(e.length))])
        }
        #expect(value(.sopInstanceUID) == Array("1.2.3".utf8) + [0x00])
        #expect(value(.patientName) == Array("Doe ".utf8))
        #expect(value(.encapsulatedDocument) == [1, 2, 3, 0])
        #expect(value(.textValue) == Array("odd ".utf8))
        #expect(elements.last.map { $0.valueOffset + Int($0.length) } == bytes.count)

        let file = try Part10Reader.read(bytes: bytes)
        #expect(file.dataSet.string(.sopInstanceUID) == "1.2.3")
        #expect(file.dataSet.string(.patientName) == "Doe")
        #expect(file.fileMetaInformation.string(.mediaStorageSOPInstanceUID) == "1.2.3")
    }

    @Test func writesOverlongShortLengthValueAsUN() throws {
        var dataSet = Self.sampleDataSet()
        let comment = Array(repeating: UInt8(ascii: "x"), count: 70_000)
        dataSet.set(DataElement(tag: .imageComments, vr: .LT, bytes: comment))
        let bytes = try Part10Writer.write(dataSet)
        let header = [0x20, 0x00, 0x00, 0x40] + Array("UN".utf8) + [0, 0, 0x70, 0x11, 0x01, 0x00]
        #expect(ByteStreamBuilder.offset(of: header, in: bytes) != nil, "a 70000-byte LT must be written as UN with a 32-bit length")
        let file = try Part10Reader.read(bytes: bytes)
        #expect(file.dataSet[.imageComments]?.vr == .LT)
        #expect(file.dataSet[.imageComments]?.bytes == comment)
    }

    @Test func writesDeferredValuesThroughTheLoader() throws {
        var dataSet = Self.sampleDataSet()
        let reference = BulkDataReference(offset: 100, length: 4)
        dataSet.set(DataElement(tag: .encapsulatedDocument, vr: .OB, value: .bytes(.deferred(reference))))
        let missingLoader = #expect(throws: DICOMParseError.self) { try Part10Writer.write(dataSet) }
        #expect(missingLoader?.code == .io)
        #expect(missingLoader?.tag == .encapsulatedDocument)

        let bytes = try Part10Writer.write(dataSet) { ref in
            #expect(ref == reference)
            return [9, 8, 7, 6]
        }
        #expect(try Part10Reader.read(bytes: bytes).dataSet[.encapsulatedDocument]?.bytes == [9, 8, 7, 6])
    }

    // MARK: Sequences and encapsulated data

    static func nestedDataSet() -> DataSet {
        let latin1 = SpecificCharacterSet(terms: ["ISO_IR 100"])
        let code = DataSet(elements: [
            DataElement(tag: .codeValue, vr: .SH, bytes: Array("121071".utf8)),
        ], characterSet: latin1)
        let emptyItem = DataSet(characterSet: latin1)
        let content = DataSet(elements: [
            DataElement(tag: .conceptNameCodeSequence, vr: .SQ, value: .sequence([code])),
            DataElement(tag: .textValue, vr: .UT, bytes: [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72]),
            DataElement(tag: .referencedSeriesSequence, vr: .SQ, value: .sequence([])),
        ], characterSet: latin1)
        return DataSet(elements: [
            DataElement(tag: .specificCharacterSet, vr: .CS, bytes: Array("ISO_IR 100".utf8)),
            DataElement(tag: .sopClassUID, vr: .UI, bytes: Array("1.2.840.10008.5.1.4.1.1.88.11\0".utf8)),
            DataElement(tag: .sopInstanceUID, vr: .UI, bytes: Array("2.25.31415".utf8)),
            DataElement(tag: .patientName, vr: .PN, bytes: [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72]),
            DataElement(tag: .contentSequence, vr: .SQ, value: .sequence([content, emptyItem])),
        ], characterSet: latin1)
    }

    @Test func writesSequencesWithUndefinedLengthAndReadsThemBackIdentically() throws {
        let original = Self.nestedDataSet()
        let bytes = try Part10Writer.write(original)
        // (0040,A730) SQ with undefined length, items with undefined length, and both delimiters.
        let sequenceHeader: [UInt8] = [0x40, 0x00, 0x30, 0xA7, 0x53, 0x51, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]
        #expect(ByteStreamBuilder.offset(of: sequenceHeader, in: bytes) != nil)
        #expect(ByteStreamBuilder.offset(of: [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF], in: bytes) != nil)
        #expect(ByteStreamBuilder.offset(of: [0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0], in: bytes) != nil)
        #expect(ByteStreamBuilder.offset(of: [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0], in: bytes) != nil)

        let file = try Part10Reader.read(bytes: bytes)
        #expect(file.warnings == [])
        #expect(file.dataSet == original)
        let items = try #require(file.dataSet[.contentSequence]?.items)
        #expect(items.count == 2)
        #expect(items[0].string(.textValue) == "Müller")
        #expect(items[0][.conceptNameCodeSequence]?.items?.first?.string(.codeValue) == "121071")
        #expect(items[0][.referencedSeriesSequence]?.items == [])
        #expect(items[1].isEmpty)
    }

    @Test func writesEncapsulatedPixelDataInTheRequestedSyntax() throws {
        var dataSet = Self.sampleDataSet()
        let pixels = EncapsulatedPixelData(basicOffsetTable: [0, 0, 0, 0], fragments: [.loaded([0xFF, 0xD8, 1, 0xFF, 0xD9])])
        dataSet.set(DataElement(tag: .pixelData, vr: .OB, value: .encapsulated(pixels)))
        let bytes = try Part10Writer.write(dataSet, transferSyntaxUID: TransferSyntax.jpegBaseline.uid)
        let file = try Part10Reader.read(bytes: bytes)
        #expect(file.transferSyntax == .jpegBaseline)
        guard case .encapsulated(let read)? = file.dataSet[.pixelData]?.value else {
            Issue.record("Pixel Data was not read back as encapsulated")
            return
        }
        #expect(read.basicOffsets == [0])
        // The odd 5-byte fragment is padded to 6 bytes.
        #expect(read.fragments == [.loaded([0xFF, 0xD8, 1, 0xFF, 0xD9, 0])])
    }

    @Test func encodesBareDataSetWithoutPreambleOrMeta() throws {
        let bytes = try Part10Writer.encodeDataSet(Self.sampleDataSet())
        #expect(Array(bytes.prefix(4)) == [0x08, 0x00, 0x16, 0x00])
        let file = try Part10Reader.read(bytes: bytes)
        #expect(!file.hasPreamble)
        #expect(file.dataSet == Self.sampleDataSet())
    }

    // MARK: DCMTK

    static let dcmdump = "/usr/bin/dcmdump"

    /// Runs a DCMTK tool and returns its exit status, standard output and standard error.
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    static func imageDataSet() -> DataSet {
        var ds = nestedDataSet()
        ds.setString(.sopClassUID, vr: .UI, secondaryCapture)
        ds.setString(.studyDate, vr: .DA, "20240115")
        ds.setString(.modality, vr: .CS, "OT")
        ds.setString(.patientID, vr: .LO, "MVNA-W")
        ds.setString(.studyInstanceUID, vr: .UI, "2.25.1001")
        ds.setString(.seriesInstanceUID, vr: .UI, "2.25.1002")
        ds.setString(.instanceNumber, vr: .IS, "7")
        ds.setString(.pixelSpacing, vr: .DS, "0.5\\0.5")
        ds.set(DataElement(tag: .frameIncrementPointer, vr: .AT, bytes: ValueParsing.encodeAttributeTags([Tag(0x0018, 0x1063)])))
        ds.set(DataElement(tag: .samplesPerPixel, vr: .US, bytes: [1, 0]))
        ds.setString(.photometricInterpretation, vr: .CS, "MONOCHROME2")
        ds.set(DataElement(tag: .rows, vr: .US, bytes: [2, 0]))
        ds.set(DataElement(tag: .columns, vr: .US, bytes: [2, 0]))
        ds.set(DataElement(tag: .bitsAllocated, vr: .US, bytes: [16, 0]))
        ds.set(DataElement(tag: .bitsStored, vr: .US, bytes: [12, 0]))
        ds.set(DataElement(tag: .highBit, vr: .US, bytes: [11, 0]))
        ds.set(DataElement(tag: .pixelRepresentation, vr: .US, bytes: [0, 0]))
        ds.set(DataElement(tag: .pixelData, vr: .OW, bytes: [1, 0, 2, 0, 3, 0, 4, 0]))
        return ds
    }

    @Test func dcmdumpAcceptsWrittenFileWithoutWarnings() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.dcmdump), "DCMTK's dcmdump is part of the CI image")
        let path = try FixturePaths.temporaryFile(try Part10Writer.write(Self.imageDataSet()), name: "written.dcm")
        defer { FixturePaths.removeTemporaryFile(path) }
        let result = try Self.run(Self.dcmdump, [path])
        #expect(result.status == 0, "dcmdump failed: \(result.err)")
        #expect(result.err.isEmpty, "dcmdump warned: \(result.err)")
        #expect(!result.out.contains("W: ") && !result.out.contains("E: "), "\(result.out)")
        #expect(result.out.contains("(0002,0010) UI =LittleEndianExplicit"))
        #expect(result.out.contains("(0010,0020) LO [MVNA-W]"))
        #expect(result.out.contains("(0040,a730) SQ (Sequence with undefined length #=2)"))
        #expect(result.out.contains("(0028,0009) AT (0018,1063)"))
    }

    @Test func dcmftestRecognisesWrittenFileAsPart10() throws {
        let dcmftest = "/usr/bin/dcmftest"
        #expect(FileManager.default.isExecutableFile(atPath: dcmftest), "DCMTK's dcmftest is part of the CI image")
        let path = try FixturePaths.temporaryFile(try Part10Writer.write(Self.imageDataSet()), name: "written.dcm")
        defer { FixturePaths.removeTemporaryFile(path) }
        let result = try Self.run(dcmftest, [path])
        #expect(result.status == 0)
        #expect(result.out.hasPrefix("yes:"), "\(result.out)")
    }
}
