import Foundation
import Imaging
import Testing
@testable import DICOM

@Suite struct Part10ReaderTests {
    typealias B = ByteStreamBuilder

    static let explicitLE = TransferSyntax.explicitVRLittleEndian.uid
    static let implicitLE = TransferSyntax.implicitVRLittleEndian.uid
    static let explicitBE = TransferSyntax.explicitVRBigEndian.uid

    /// Reads hand-built bytes and returns the error they raise, failing the test if none is raised.
    func readError(_ bytes: [UInt8], options: ReadOptions = ReadOptions()) -> DICOMParseError? {
        do {
            _ = try Part10Reader.read(bytes: bytes, options: options)
            Issue.record("expected a DICOMParseError, read succeeded")
            return nil
        } catch let error as DICOMParseError {
            return error
        } catch {
            Issue.record("expected a DICOMParseError, got \(error)")
            return nil
        }
    }

    func readError(path: String, options: ReadOptions = ReadOptions()) -> DICOMParseError? {
        do {
            _ = try Part10Reader.read(path: path, options: options)
            Issue.record("expected a DICOMParseError reading \(path), read succeeded")
            return nil
        } catch let error as DICOMParseError {
            return error
        } catch {
            Issue.record("expected a DICOMParseError, got \(error)")
            return nil
        }
    }

    func deferredReference(_ element: DataElement?) -> BulkDataReference? {
        if case .bytes(.deferred(let reference))? = element?.value { return reference }
        return nil
    }

    func encapsulated(_ element: DataElement?) -> EncapsulatedPixelData? {
        if case .encapsulated(let pixels)? = element?.value { return pixels }
        return nil
    }

    // MARK: Encodings

    @Test func readsExplicitVRLittleEndian() throws {
        let b = B(.explicitLittle)
        let body = b.text(.sopClassUID, .UI, "1.2.840.10008.5.1.4.1.1.7")
            + b.text(.sopInstanceUID, .UI, "2.25.42")
            + b.text(.modality, .CS, "OT")
            + b.text(.patientName, .PN, "Doe^John")
            + b.us(.rows, 2) + b.us(.columns, 3)
            + b.text(.windowCenter, .DS, "40\\-400.5")
            + b.element(.pixelData, .OW, [1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0])
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body, sopInstanceUID: "2.25.42"))
        #expect(file.hasPreamble)
        #expect(file.transferSyntax == .explicitVRLittleEndian)
        #expect(file.transferSyntaxUID == Self.explicitLE)
        #expect(file.fileMetaInformation.string(.mediaStorageSOPInstanceUID) == "2.25.42")
        #expect(file.fileMetaInformation[.fileMetaInformationVersion]?.bytes == [0x00, 0x01])
        #expect(!file.stoppedBeforePixelData)
        #expect(file.pixelDataOffset == nil)
        #expect(file.warnings == [])

        let ds = file.dataSet
        #expect(ds.count == 8)
        #expect(ds.elements.map(\.tag) == ds.elements.map(\.tag).sorted())
        #expect(ds.string(.sopInstanceUID) == "2.25.42")
        #expect(ds.string(.modality) == "OT")
        #expect(ds.string(.patientName) == "Doe^John")
        #expect(ds[.patientName]?.vr == .PN)
        #expect(ds.int(.rows) == 2)
        #expect(ds.int(.columns) == 3)
        #expect(ds.strings(.windowCenter) == ["40", "-400.5"])
        #expect(ds[.pixelData]?.vr == .OW)
        #expect(ds[.pixelData]?.bytes == [1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0])
        #expect(!ds.contains(.transferSyntaxUID), "meta elements belong to fileMetaInformation")
    }

    @Test func readsImplicitVRLittleEndianWithDictionaryVRs() throws {
        let b = B(.implicitLittle)
        let body = b.text(.sopInstanceUID, .UI, "2.25.7")
            + b.text(Tag(0x0009, 0x0010), .LO, "ACME 1.0")
            + b.element(Tag(0x0009, 0x1001), .UN, [1, 2, 3, 4])
            + b.text(.patientName, .PN, "Roe^Jane")
            + b.us(.pixelRepresentation, 1)
            + b.element(.smallestImagePixelValue, .US, [0xFB, 0xFF])
            + b.element(.largestImagePixelValue, .US, [0x10, 0x00])
            + b.element(.pixelData, .OW, [0x01, 0x02, 0x03, 0x04])
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.implicitLE, body: body))
        #expect(file.transferSyntax == .implicitVRLittleEndian)
        let ds = file.dataSet
        #expect(ds[.sopInstanceUID]?.vr == .UI)
        #expect(ds[.patientName]?.vr == .PN)
        #expect(ds.string(.patientName) == "Roe^Jane")
        #expect(ds[Tag(0x0009, 0x0010)]?.vr == .LO)
        #expect(ds.string(Tag(0x0009, 0x0010)) == "ACME 1.0")
        #expect(ds[Tag(0x0009, 0x1001)]?.vr == .UN)
        #expect(ds[Tag(0x0009, 0x1001)]?.bytes == [1, 2, 3, 4])
        #expect(ds[.pixelRepresentation]?.vr == .US)
        // US or SS resolves with Pixel Representation 1 (signed).
        #expect(ds[.smallestImagePixelValue]?.vr == .SS)
        #expect(ds.int(.smallestImagePixelValue) == -5)
        #expect(ds[.largestImagePixelValue]?.vr == .SS)
        // OB or OW Pixel Data is OW in implicit VR.
        #expect(ds[.pixelData]?.vr == .OW)
    }

    @Test func resolvesUSorSSAsUnsignedWithoutPixelRepresentation() throws {
        let b = B(.implicitLittle)
        let body = b.element(.smallestImagePixelValue, .US, [0xFB, 0xFF])
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.implicitLE, body: body))
        #expect(file.dataSet[.smallestImagePixelValue]?.vr == .US)
        #expect(file.dataSet.int(.smallestImagePixelValue) == 65531)
    }

    @Test func readsExplicitVRBigEndianValuesAsLittleEndian() throws {
        let b = B(.explicitBig)
        let fd = withUnsafeBytes(of: (1.5).bitPattern.bigEndian, Array.init)
        let body = b.text(.sopInstanceUID, .UI, "2.25.8")
            + b.element(.frameIncrementPointer, .AT, b.tag(Tag(0x0018, 0x1063)))
            + b.text(.patientName, .PN, "Big^Endian")
            + b.element(Tag(0x0018, 0x9087), .FD, fd)
            + b.us(.rows, 512) + b.us(.columns, 0x0102)
            + b.sequence(.referencedImageSequence, items: [b.item(b.us(.rows, 7), undefinedLength: true)], undefinedLength: true)
            + b.element(.pixelData, .OW, b.u16(0x1234) + b.u16(0x5678))
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitBE, body: body))
        #expect(file.transferSyntax == .explicitVRBigEndian)
        let ds = file.dataSet
        #expect(ds.string(.patientName) == "Big^Endian")
        #expect(ds[.rows]?.bytes == [0x00, 0x02])
        #expect(ds.int(.rows) == 512)
        #expect(ds.int(.columns) == 0x0102)
        #expect(ds[.frameIncrementPointer]?.bytes == [0x18, 0x00, 0x63, 0x10])
        #expect(ValueParsing.attributeTags(ds[.frameIncrementPointer]?.bytes ?? []) == [Tag(0x0018, 0x1063)])
        #expect(NumericValue.doubles(ds[Tag(0x0018, 0x9087)]?.bytes ?? [], vr: .FD) == [1.5])
        #expect(ds[.referencedImageSequence]?.items?.first?.int(.rows) == 7)
        #expect(ds[.pixelData]?.bytes == [0x34, 0x12, 0x78, 0x56])
    }

    @Test func readsBigEndianFixtureLikeItsLittleEndianTwin() throws {
        let big = try Part10Reader.read(path: FixturePaths.path("bigendian/ct_big_endian.dcm"))
        let little = try Part10Reader.read(path: FixturePaths.path("ct/ct_0003.dcm"))
        #expect(big.transferSyntax == .explicitVRBigEndian)
        #expect(big.dataSet.string(.patientName) == "Doe^John")
        #expect(big.dataSet.int(.rows) == 64)
        #expect(big.dataSet.int(.pixelRepresentation) == 1)
        #expect(big.dataSet.strings(.imagePositionPatient) == little.dataSet.strings(.imagePositionPatient))
        let pixels = try #require(big.dataSet[.pixelData]?.bytes)
        #expect(pixels.count == 8192)
        #expect(pixels == little.dataSet[.pixelData]?.bytes)
    }

    @Test func readsImplicitFixture() throws {
        let file = try Part10Reader.read(path: FixturePaths.path("mr/mr_implicit.dcm"))
        #expect(file.transferSyntax == .implicitVRLittleEndian)
        #expect(file.dataSet.string(.patientName) == "Roe^Jane")
        #expect(file.dataSet.int(.rows) == 64)
        #expect(file.dataSet.int(Tag(0x0028, 0x0101)) == 12)   // Bits Stored
        #expect(file.dataSet[.pixelData]?.vr == .OW)
        #expect(file.dataSet[.pixelData]?.valueLength == 64 * 64 * 2)
        #expect(file.sourcePath == FixturePaths.path("mr/mr_implicit.dcm"))
    }

    @Test func readsRawDataSetWithoutPreambleOrMeta() throws {
        let b = B(.implicitLittle)
        let body = b.text(.sopInstanceUID, .UI, "2.25.3") + b.text(.patientName, .PN, "Raw^Set")
        let file = try Part10Reader.read(bytes: body)
        #expect(!file.hasPreamble)
        #expect(file.fileMetaInformation.isEmpty)
        #expect(file.transferSyntaxUID == Self.implicitLE)
        #expect(file.dataSet.string(.patientName) == "Raw^Set")
        #expect(!file.warnings.isEmpty)
    }

    @Test func rejectsRawDataSetWhenPreambleIsRequired() {
        let b = B(.explicitLittle)
        var options = ReadOptions()
        options.allowMissingPreamble = false
        let error = readError(b.text(.patientName, .PN, "Raw^Set"), options: options)
        #expect(error?.code == .notDICOM)
        #expect(error?.offset == 0)
    }

    @Test func readsDICMPrefixWithoutPreamble() throws {
        let full = B.part10(transferSyntax: Self.explicitLE, body: B(.explicitLittle).text(.patientName, .PN, "No^Preamble"))
        let file = try Part10Reader.read(bytes: Array(full.dropFirst(128)))
        #expect(!file.hasPreamble)
        #expect(file.transferSyntax == .explicitVRLittleEndian)
        #expect(file.dataSet.string(.patientName) == "No^Preamble")
        #expect(!file.warnings.isEmpty)
    }

    // MARK: Sequences

    @Test func readsDefinedLengthSequenceOfDefinedLengthItems() throws {
        let b = B(.explicitLittle)
        let item1 = b.item(b.text(.referencedSOPClassUID, .UI, "1.2.3") + b.text(.referencedSOPInstanceUID, .UI, "2.25.10"))
        let item2 = b.item(b.text(.referencedSOPClassUID, .UI, "1.2.4") + b.text(.referencedSOPInstanceUID, .UI, "2.25.11"))
        let body = b.sequence(.referencedStudySequence, items: [item1, item2])
            + b.text(.patientName, .PN, "After^Sequence")
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body))
        let items = try #require(file.dataSet[.referencedStudySequence]?.items)
        #expect(file.dataSet[.referencedStudySequence]?.vr == .SQ)
        #expect(items.count == 2)
        #expect(items[0].string(.referencedSOPInstanceUID) == "2.25.10")
        #expect(items[1].string(.referencedSOPClassUID) == "1.2.4")
        #expect(items[1].string(.referencedSOPInstanceUID) == "2.25.11")
        #expect(file.dataSet.string(.patientName) == "After^Sequence")
        #expect(file.warnings == [])
    }

    /// Builds `levels` nested Content Sequences, the innermost item holding a Code Value.
    func nestedSequences(_ b: B, levels: Int, undefinedLength: Bool) -> [UInt8] {
        var body = b.text(.codeValue, .SH, "LEAF")
        for _ in 0..<levels {
            body = b.sequence(.contentSequence, items: [b.item(body, undefinedLength: undefinedLength)],
                              undefinedLength: undefinedLength)
        }
        return body
    }

    func leaf(of dataSet: DataSet, levels: Int) -> DataSet? {
        var current = dataSet
        for _ in 0..<levels {
            guard let item = current[.contentSequence]?.items?.first else { return nil }
            current = item
        }
        return current
    }

    @Test(arguments: [ByteStreamBuilder.Encoding.explicitLittle, .implicitLittle, .explicitBig])
    func readsNestedUndefinedLengthSequences(encoding: ByteStreamBuilder.Encoding) throws {
        let b = B(encoding)
        let syntax = switch encoding {
        case .explicitLittle: Self.explicitLE
        case .implicitLittle: Self.implicitLE
        case .explicitBig: Self.explicitBE
        }
        let body = b.text(.patientName, .PN, "Before^Nesting")
            + nestedSequences(b, levels: 3, undefinedLength: true)
            + b.text(.storageMediaFileSetUID, .UI, "2.25.77")
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: syntax, body: body))
        let innermost = try #require(leaf(of: file.dataSet, levels: 3))
        #expect(innermost.string(.codeValue) == "LEAF")
        #expect(file.dataSet[.contentSequence]?.vr == .SQ)
        #expect(file.dataSet.string(.patientName) == "Before^Nesting")
        #expect(file.dataSet.string(.storageMediaFileSetUID) == "2.25.77")
        #expect(file.warnings == [])
    }

    @Test func readsNestedDefinedLengthSequences() throws {
        let b = B(.explicitLittle)
        let body = nestedSequences(b, levels: 4, undefinedLength: false) + b.text(.storageMediaFileSetUID, .UI, "2.25.77")
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body))
        #expect(leaf(of: file.dataSet, levels: 4)?.string(.codeValue) == "LEAF")
        #expect(file.dataSet.string(.storageMediaFileSetUID) == "2.25.77")
        #expect(file.warnings == [])
    }

    @Test func readsMixedDefinedAndUndefinedLengths() throws {
        let b = B(.explicitLittle)
        let inner = b.sequence(.conceptNameCodeSequence, items: [b.item(b.text(.codeValue, .SH, "121"), undefinedLength: true)],
                               undefinedLength: true)
        let outer = b.sequence(.contentSequence, items: [b.item(inner + b.text(.textValue, .UT, "note")),
                                                         b.item([], undefinedLength: true)])
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: outer))
        let items = try #require(file.dataSet[.contentSequence]?.items)
        #expect(items.count == 2)
        #expect(items[0][.conceptNameCodeSequence]?.items?.first?.string(.codeValue) == "121")
        #expect(items[0].string(.textValue) == "note")
        #expect(items[1].isEmpty)
    }

    @Test func readsEmptySequences() throws {
        let b = B(.explicitLittle)
        let body = b.sequence(.referencedStudySequence, items: [])
            + b.sequence(.referencedSeriesSequence, items: [], undefinedLength: true)
            + b.text(.patientName, .PN, "Empty^Seq")
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body))
        #expect(file.dataSet[.referencedStudySequence]?.items == [])
        #expect(file.dataSet[.referencedSeriesSequence]?.items == [])
        #expect(file.dataSet[.referencedSeriesSequence]?.isEmpty == true)
        #expect(file.dataSet.string(.patientName) == "Empty^Seq")
    }

    @Test func itemsInheritOrOverrideTheCharacterSet() throws {
        let b = B(.explicitLittle)
        let inherited = b.item(b.rawText(.patientName, .PN, [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72]))
        let overriding = b.item(b.text(.specificCharacterSet, .CS, "ISO_IR 192")
                                + b.rawText(.patientName, .PN, Array("Zoë".utf8)))
        let body = b.text(.specificCharacterSet, .CS, "ISO_IR 100")
            + b.sequence(.referencedStudySequence, items: [inherited, overriding])
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body))
        let items = try #require(file.dataSet[.referencedStudySequence]?.items)
        #expect(items[0].characterSet.terms == ["ISO_IR 100"])
        #expect(items[0].string(.patientName) == "Müller")
        #expect(items[1].characterSet == .utf8)
        #expect(items[1].string(.patientName) == "Zoë")
        #expect(file.dataSet.characterSet.terms == ["ISO_IR 100"])
    }

    @Test func readsUNOfUndefinedLengthAsImplicitSequence() throws {
        let b = B(.explicitLittle)
        let implicit = B(.implicitLittle)
        let item = implicit.item(implicit.text(.codeValue, .SH, "UNSEQ"), undefinedLength: true)
        let body = b.header(.contentSequence, .UN, length: B.undefinedLength) + item
            + implicit.tag(.sequenceDelimitationItem) + implicit.u32(0)
            + b.text(.storageMediaFileSetUID, .UI, "2.25.78")
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body))
        #expect(file.dataSet[.contentSequence]?.vr == .SQ)
        #expect(file.dataSet[.contentSequence]?.items?.first?.string(.codeValue) == "UNSEQ")
        #expect(file.dataSet.string(.storageMediaFileSetUID) == "2.25.78")
        #expect(file.warnings == [])
    }

    @Test func readsUNWithKnownPublicTagAsDictionaryVR() throws {
        let b = B(.explicitLittle)
        let body = b.text(Tag(0x0009, 0x0010), .UN, "ACME")
            + b.element(.patientName, .UN, Array("Doe^John".utf8))
            + b.element(.rows, .UN, [0x00, 0x01])
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body))
        #expect(file.dataSet[Tag(0x0009, 0x0010)]?.vr == .LO)
        #expect(file.dataSet[.patientName]?.vr == .PN)
        #expect(file.dataSet.string(.patientName) == "Doe^John")
        #expect(file.dataSet[.rows]?.vr == .US)
        #expect(file.dataSet.int(.rows) == 256)
    }

    // MARK: Encapsulated Pixel Data

    @Test func readsEncapsulatedPixelDataWithOffsetTableAndFragments() throws {
        let b = B(.explicitLittle)
        let frame1: [UInt8] = [0xFF, 0xD8, 1, 2, 3, 4, 0xFF, 0xD9]
        let frame2a: [UInt8] = [0xFF, 0xD8, 5, 6]
        let frame2b: [UInt8] = [7, 8, 0xFF, 0xD9]
        let body = b.text(.sopInstanceUID, .UI, "2.25.5")
            + b.text(.numberOfFrames, .IS, "2")
            + b.encapsulatedPixelData(offsets: [0, 16], fragments: [frame1, frame2a, frame2b])
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: TransferSyntax.jpegBaseline.uid, body: body))
        #expect(file.transferSyntax == .jpegBaseline)
        let element = try #require(file.dataSet[.pixelData])
        #expect(element.vr == .OB)
        let pixels = try #require(encapsulated(element))
        #expect(pixels.basicOffsets == [0, 16])
        #expect(pixels.basicOffsetTable == [0, 0, 0, 0, 16, 0, 0, 0])
        #expect(pixels.fragments == [.bytes(frame1), .bytes(frame2a), .bytes(frame2b)])
        #expect(pixels.itemStreamLength == 8 + 8 + 3 * 8 + 16)
        let stream = pixels.itemStream { _ in [] }
        #expect(stream.count == pixels.itemStreamLength)
        #expect(Array(stream.prefix(8)) == [0xFE, 0xFF, 0x00, 0xE0, 8, 0, 0, 0])
    }

    @Test func readsEncapsulatedPixelDataWithEmptyOffsetTable() throws {
        let b = B(.explicitLittle)
        let body = b.encapsulatedPixelData(offsets: [], fragments: [[1, 2, 3, 4]])
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: TransferSyntax.rleLossless.uid, body: body))
        let pixels = try #require(encapsulated(file.dataSet[.pixelData]))
        #expect(pixels.basicOffsetTable == [])
        #expect(pixels.basicOffsets == [])
        #expect(pixels.fragments == [.loaded([1, 2, 3, 4])])
    }

    @Test func readsEncapsulatedFixture() throws {
        let file = try Part10Reader.read(path: FixturePaths.path("jpeg2000/j2k_lossless.dcm"))
        #expect(file.transferSyntax == .jpeg2000Lossless)
        let pixels = try #require(encapsulated(file.dataSet[.pixelData]))
        #expect(pixels.basicOffsets == [0])
        #expect(pixels.fragments.count == 1)
        let codestream = try #require(pixels.fragments.first?.loadedBytes)
        #expect(codestream.count == 2762)
        #expect(Array(codestream.prefix(2)) == [0xFF, 0x4F])   // J2K SOC marker
    }

    @Test func rejectsEncapsulatedFragmentOfUndefinedLength() {
        let b = B(.explicitLittle)
        let body = b.header(.pixelData, .OB, length: B.undefinedLength)
            + b.tag(.item) + b.u32(0)
            + b.tag(.item) + b.u32(B.undefinedLength) + [1, 2, 3, 4]
            + b.tag(.sequenceDelimitationItem) + b.u32(0)
        let bytes = B.part10(transferSyntax: TransferSyntax.jpegBaseline.uid, body: body)
        let error = readError(bytes)
        #expect(error?.code == .malformedEncapsulation)
        #expect(error?.tag == .pixelData)
        #expect(error?.offset == bytes.count - body.count + 20)
    }

    @Test func rejectsNonItemInsideEncapsulatedPixelData() {
        let b = B(.explicitLittle)
        let body = b.header(.pixelData, .OB, length: B.undefinedLength)
            + b.tag(.item) + b.u32(0)
            + b.text(.patientName, .PN, "Not^Item")
        let error = readError(B.part10(transferSyntax: TransferSyntax.jpegBaseline.uid, body: body))
        #expect(error?.code == .malformedEncapsulation)
        #expect(error?.tag == .pixelData)
    }

    @Test func rejectsEncapsulatedPixelDataWithoutDelimiter() {
        let b = B(.explicitLittle)
        let body = b.header(.pixelData, .OB, length: B.undefinedLength)
            + b.tag(.item) + b.u32(0)
            + b.tag(.item) + b.u32(4) + [1, 2, 3, 4]
        let error = readError(B.part10(transferSyntax: TransferSyntax.jpegBaseline.uid, body: body))
        #expect(error?.code == .truncated)
        #expect(error?.tag == .pixelData)
    }

    @Test func rejectsFragmentRunningPastTheEnd() {
        let b = B(.explicitLittle)
        let body = b.header(.pixelData, .OB, length: B.undefinedLength)
            + b.tag(.item) + b.u32(0)
            + b.tag(.item) + b.u32(400) + [1, 2, 3, 4]
        let error = readError(B.part10(transferSyntax: TransferSyntax.jpegBaseline.uid, body: body))
        #expect(error?.code == .malformedEncapsulation)
    }

    // MARK: Header-only reads

    func headerOnlyBody(_ b: B, pixelLength: UInt32? = nil) -> (body: [UInt8], pixelHeader: [UInt8]) {
        let pixels: [UInt8] = Array(repeating: 0xAB, count: 64)
        let pixelHeader = b.header(.pixelData, .OW, length: pixelLength ?? UInt32(pixels.count))
        let body = b.text(.sopInstanceUID, .UI, "2.25.6")
            + b.text(.patientName, .PN, "Header^Only")
            + b.us(.rows, 4) + b.us(.columns, 8)
            + pixelHeader + pixels
            + b.element(Tag(0xFFFA, 0xFFFA), .SQ, [])
        return (body, pixelHeader)
    }

    @Test func headerOnlyStopsBeforePixelData() throws {
        let b = B(.explicitLittle)
        let (body, pixelHeader) = headerOnlyBody(b)
        let bytes = B.part10(transferSyntax: Self.explicitLE, body: body)
        let file = try Part10Reader.read(bytes: bytes, options: ReadOptions(stopBeforePixelData: true))
        #expect(file.stoppedBeforePixelData)
        let offset = try #require(file.pixelDataOffset)
        #expect(offset == B.offset(of: pixelHeader, in: bytes))
        #expect(Array(bytes[offset..<(offset + 4)]) == [0xE0, 0x7F, 0x10, 0x00])
        #expect(!file.dataSet.contains(.pixelData))
        #expect(!file.dataSet.contains(Tag(0xFFFA, 0xFFFA)), "elements after Pixel Data are not read")
        #expect(file.dataSet.string(.patientName) == "Header^Only")
        #expect(file.dataSet.int(.columns) == 8)
    }

    @Test func headerOnlyNeverReadsPixelDataValue() throws {
        // Pixel Data claims 1 GiB that the stream does not have: a full read must fail, a header-only read must not look.
        let b = B(.explicitLittle)
        let (body, _) = headerOnlyBody(b, pixelLength: 1 << 30)
        let bytes = B.part10(transferSyntax: Self.explicitLE, body: body)
        let file = try Part10Reader.read(bytes: bytes, options: ReadOptions(stopBeforePixelData: true))
        #expect(file.stoppedBeforePixelData)
        #expect(file.dataSet.string(.patientName) == "Header^Only")
        #expect(readError(bytes)?.code == .truncated)
    }

    @Test func headerOnlyStopsAtFloatPixelData() throws {
        let b = B(.explicitLittle)
        let body = b.text(.patientName, .PN, "Float^Pixels") + b.element(Tag(0x7FE0, 0x0008), .OF, [0, 0, 0x80, 0x3F])
        let bytes = B.part10(transferSyntax: Self.explicitLE, body: body)
        let file = try Part10Reader.read(bytes: bytes, options: ReadOptions(stopBeforePixelData: true))
        #expect(file.stoppedBeforePixelData)
        #expect(file.pixelDataOffset == bytes.count - 16)   // 12-byte OF header + 4-byte value
        #expect(!file.dataSet.contains(Tag(0x7FE0, 0x0008)))
    }

    @Test func headerOnlyKeepsPixelDataNestedInSequences() throws {
        let b = B(.explicitLittle)
        let icon = b.item(b.us(.rows, 2) + b.element(.pixelData, .OB, [1, 2, 3, 4]))
        let body = b.sequence(.iconImageSequence, items: [icon]) + b.element(.pixelData, .OW, [9, 9])
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body),
                                         options: ReadOptions(stopBeforePixelData: true))
        #expect(file.stoppedBeforePixelData)
        #expect(file.dataSet[.iconImageSequence]?.items?.first?[.pixelData]?.bytes == [1, 2, 3, 4])
        #expect(!file.dataSet.contains(.pixelData))
    }

    @Test func headerOnlyFileReadReportsFileOffsetOfPixelData() throws {
        let path = FixturePaths.path("ct/ct_0001.dcm")
        let file = try Part10Reader.read(path: path, options: .headerOnly())
        #expect(file.stoppedBeforePixelData)
        #expect(file.pixelDataOffset == 1292)
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Array(raw[1292..<1296]) == [0xE0, 0x7F, 0x10, 0x00])
        #expect(file.dataSet.string(.patientName) == "Doe^John")
        #expect(!file.dataSet.contains(.pixelData))
    }

    @Test func headerOnlyReadsEverythingWhenThereIsNoPixelData() throws {
        let b = B(.explicitLittle)
        let body = b.text(.patientName, .PN, "No^Pixels") + b.text(.storageMediaFileSetUID, .UI, "2.25.4")
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body),
                                         options: ReadOptions(stopBeforePixelData: true))
        #expect(!file.stoppedBeforePixelData)
        #expect(file.pixelDataOffset == nil)
        #expect(file.dataSet.string(.storageMediaFileSetUID) == "2.25.4")
    }

    @Test func fullReadReportsNoPixelDataOffset() throws {
        let file = try Part10Reader.read(path: FixturePaths.path("ct/ct_0001.dcm"))
        #expect(!file.stoppedBeforePixelData)
        #expect(file.pixelDataOffset == nil)
        #expect(file.dataSet[.pixelData]?.valueLength == 8192)
    }

    // MARK: Deferred values

    @Test func defersLargeValuesAndLoadsThemFromTheFile() throws {
        let b = B(.explicitLittle)
        let document = (0..<100).map { UInt8($0) }
        let iconPixels = (0..<40).map { UInt8(255 - $0) }
        let pixels = (0..<200).map { UInt8($0 & 0x7F) }
        let documentHeader = b.header(.encapsulatedDocument, .OB, length: UInt32(document.count))
        let body = b.text(.sopInstanceUID, .UI, "2.25.9")
            + b.element(Tag(0x0029, 0x1001), .OB, [1, 2, 3, 4])
            + b.text(.patientName, .PN, "Deferred^Values")
            + documentHeader + document
            + b.sequence(.iconImageSequence, items: [b.item(b.element(.pixelData, .OW, iconPixels))])
            + b.element(.pixelData, .OW, pixels)
        let bytes = B.part10(transferSyntax: Self.explicitLE, body: body)
        let path = try FixturePaths.temporaryFile(bytes)
        defer { FixturePaths.removeTemporaryFile(path) }

        let file = try Part10Reader.read(path: path, options: ReadOptions(deferValuesLongerThan: 16))
        let ds = file.dataSet
        #expect(ds[Tag(0x0029, 0x1001)]?.bytes == [1, 2, 3, 4])
        #expect(ds.string(.patientName) == "Deferred^Values")

        let documentRef = try #require(deferredReference(ds[.encapsulatedDocument]))
        #expect(documentRef.offset == (B.offset(of: documentHeader, in: bytes) ?? -1) + documentHeader.count)
        #expect(documentRef.length == 100)
        #expect(documentRef.swapUnit == 0)
        #expect(ds[.encapsulatedDocument]?.bytes == nil)
        #expect(ds[.encapsulatedDocument]?.valueLength == 100)
        #expect(try file.load(documentRef) == document)
        #expect(try BulkDataReader.read(documentRef, from: path) == document)

        let pixelRef = try #require(deferredReference(ds[.pixelData]))
        #expect(try file.load(pixelRef) == pixels)
        let iconRef = try #require(deferredReference(ds[.iconImageSequence]?.items?.first?[.pixelData]))
        #expect(try file.load(iconRef) == iconPixels)

        let full = try Part10Reader.read(path: path)
        #expect(try file.loadingDeferredValues() == full.dataSet)
    }

    @Test func neverDefersValuesOfInMemoryStreams() throws {
        let b = B(.explicitLittle)
        let bytes = B.part10(transferSyntax: Self.explicitLE, body: b.element(.pixelData, .OW, Array(repeating: 7, count: 100)))
        let file = try Part10Reader.read(bytes: bytes, options: ReadOptions(deferValuesLongerThan: 16))
        #expect(file.dataSet[.pixelData]?.bytes == Array(repeating: 7, count: 100))
    }

    @Test func defersBigEndianValuesAndSwapsThemOnLoad() throws {
        let path = FixturePaths.path("bigendian/ct_big_endian.dcm")
        let file = try Part10Reader.read(path: path, options: ReadOptions(deferValuesLongerThan: 1024))
        let reference = try #require(deferredReference(file.dataSet[.pixelData]))
        #expect(reference.length == 8192)
        #expect(reference.swapUnit == 2)
        let little = try Part10Reader.read(path: FixturePaths.path("ct/ct_0003.dcm"))
        let expected = try #require(little.dataSet[.pixelData]?.bytes)
        #expect(try file.load(reference) == expected)
        #expect(try BulkDataReader.read(reference, from: path) == expected)
    }

    @Test func defersEveryEncapsulatedFragment() throws {
        let path = FixturePaths.path("jpeg2000/j2k_lossless.dcm")
        let file = try Part10Reader.read(path: path, options: ReadOptions(deferValuesLongerThan: 1_000_000))
        let pixels = try #require(encapsulated(file.dataSet[.pixelData]))
        #expect(pixels.basicOffsets == [0])
        guard case .deferred(let reference)? = pixels.fragments.first else {
            Issue.record("fragment was loaded: \(String(describing: pixels.fragments.first))")
            return
        }
        let full = try Part10Reader.read(path: path)
        let loaded = try #require(encapsulated(full.dataSet[.pixelData])?.fragments.first?.loadedBytes)
        #expect(try file.load(reference) == loaded)
        #expect(try file.loadingDeferredValues() == full.dataSet)
    }

    @Test func rejectsDeferredReferencePastTheEndOfFile() {
        let path = FixturePaths.path("ct/ct_0001.dcm")
        let pastEnd = #expect(throws: DICOMParseError.self) {
            try BulkDataReader.read(BulkDataReference(offset: 9000, length: 8192), from: path)
        }
        #expect(pastEnd?.code == .truncated)
        let missing = #expect(throws: DICOMParseError.self) {
            try BulkDataReader.read(BulkDataReference(offset: 0, length: 4), from: "/nonexistent/minivna.dcm")
        }
        #expect(missing?.code == .io)
        let orphan = Part10File(dataSet: DataSet(), transferSyntaxUID: Self.explicitLE)
        let noSource = #expect(throws: DICOMParseError.self) {
            try orphan.load(BulkDataReference(offset: 0, length: 4))
        }
        #expect(noSource?.code == .io)
    }

    // MARK: Deflate

    @Test func readsDeflatedFixtureWithInflater() throws {
        let file = try Part10Reader.read(path: FixturePaths.path("deflated/deflated.dcm"),
                                         options: ReadOptions(inflater: ZlibDeflate()))
        #expect(file.transferSyntax == .deflatedExplicitVRLittleEndian)
        #expect(file.dataSet.string(.patientName) == "Doe^John")
        #expect(file.dataSet.int(.rows) == 64)
        let twin = try Part10Reader.read(path: FixturePaths.path("ct/ct_0003.dcm"))
        let pixels = try #require(file.dataSet[.pixelData]?.bytes)
        #expect(pixels == twin.dataSet[.pixelData]?.bytes)
    }

    @Test func readsDeflatedFixtureHeaderOnly() throws {
        let file = try Part10Reader.read(path: FixturePaths.path("deflated/deflated.dcm"),
                                         options: .headerOnly(inflater: ZlibDeflate()))
        #expect(file.stoppedBeforePixelData)
        #expect(file.pixelDataOffset == nil, "offsets in the inflated stream are not file offsets")
        #expect(file.dataSet.string(.patientName) == "Doe^John")
        #expect(!file.dataSet.contains(.pixelData))
    }

    @Test func rejectsDeflatedFixtureWithoutInflater() {
        let error = readError(path: FixturePaths.path("deflated/deflated.dcm"))
        #expect(error?.code == .deflate)
        #expect(error?.offset != nil)
    }

    @Test func rejectsCorruptDeflatedStream() {
        let bytes = B.part10(transferSyntax: TransferSyntax.deflatedExplicitVRLittleEndian.uid,
                             body: Array(repeating: 0xFF, count: 32))
        let error = readError(bytes, options: ReadOptions(inflater: ZlibDeflate()))
        #expect(error?.code == .deflate)
        #expect(error?.offset == bytes.count - 32)
    }

    // MARK: Malformed input

    @Test(arguments: [
        ("all_zeros.dcm", DICOMParseError.Code.notDICOM),
        ("empty.dcm", .notDICOM),
        ("missing_dicm.dcm", .notDICOM),
        ("sequence_item_length_too_long.dcm", .invalidLength),
        ("sequence_undefined_length_no_delimiter.dcm", .truncated),
        ("truncated_mid_element.dcm", .truncated),
        ("truncated_pixel_data.dcm", .truncated),
        ("value_length_past_eof.dcm", .truncated),
    ])
    func rejectsMalformedFixture(name: String, code: DICOMParseError.Code) {
        let error = readError(path: FixturePaths.path("malformed/\(name)"))
        #expect(error?.code == code, "\(name): \(String(describing: error))")
    }

    @Test func malformedFixtureListIsComplete() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: FixturePaths.path("malformed")).sorted()
        #expect(files == ["all_zeros.dcm", "empty.dcm", "missing_dicm.dcm", "sequence_item_length_too_long.dcm",
                          "sequence_undefined_length_no_delimiter.dcm", "truncated_mid_element.dcm",
                          "truncated_pixel_data.dcm", "value_length_past_eof.dcm"])
    }

    /// Byte offsets computed from the fixtures with Python (`bytes.find` of each element's tag).
    @Test(arguments: [
        ("sequence_item_length_too_long.dcm", DICOM.Tag.referencedStudySequence, 454),
        ("sequence_undefined_length_no_delimiter.dcm", .referencedStudySequence, 556),
        ("truncated_mid_element.dcm", .patientName, 548),
        ("value_length_past_eof.dcm", .imageComments, 584),
        ("truncated_pixel_data.dcm", .pixelData, 1292),
    ])
    func malformedFixtureErrorNamesTagAndOffset(name: String, tag: DICOM.Tag, offset: Int) {
        let error = readError(path: FixturePaths.path("malformed/\(name)"))
        #expect(error?.tag == tag, "\(name)")
        #expect(error?.offset == offset, "\(name)")
        #expect(error?.description.contains("[tag \(tag)]") == true)
    }

    @Test func truncatedPixelDataFixtureReadsHeaderOnly() throws {
        let path = FixturePaths.path("malformed/truncated_pixel_data.dcm")
        let file = try Part10Reader.read(path: path, options: .headerOnly())
        #expect(file.stoppedBeforePixelData)
        #expect(file.pixelDataOffset == 1292)
        #expect(file.dataSet.string(.patientName) == "Doe^John")
        let full = readError(path: path)
        #expect(full?.code == .truncated)
        #expect(full?.tag == .pixelData)
    }

    @Test func rejectsMissingFileWithIOError() {
        let error = readError(path: "/nonexistent/minivna/missing.dcm")
        #expect(error?.code == .io)
    }

    @Test func rejectsNestingDeeperThanTheLimit() throws {
        let b = B(.explicitLittle)
        var options = ReadOptions()
        options.maximumDepth = 3
        let ok = B.part10(transferSyntax: Self.explicitLE, body: nestedSequences(b, levels: 3, undefinedLength: true))
        #expect(leaf(of: try Part10Reader.read(bytes: ok, options: options).dataSet, levels: 3)?.string(.codeValue) == "LEAF")
        let tooDeep = B.part10(transferSyntax: Self.explicitLE, body: nestedSequences(b, levels: 4, undefinedLength: true))
        let error = readError(tooDeep, options: options)
        #expect(error?.code == .nestingTooDeep)
        #expect(error?.offset != nil)
    }

    @Test func rejectsHostileNestingWithDefaultLimit() {
        let b = B(.explicitLittle)
        let bytes = B.part10(transferSyntax: Self.explicitLE, body: nestedSequences(b, levels: 200, undefinedLength: true))
        #expect(readError(bytes)?.code == .nestingTooDeep)
        let defined = B.part10(transferSyntax: Self.explicitLE, body: nestedSequences(b, levels: 200, undefinedLength: false))
        #expect(readError(defined)?.code == .nestingTooDeep)
    }

    @Test func truncatedValueErrorCarriesTagAndOffset() {
        let b = B(.explicitLittle)
        let head = B.part10(transferSyntax: Self.explicitLE, body: b.text(.sopInstanceUID, .UI, "2.25.1"))
        let bytes = head + b.header(.patientName, .PN, length: 14) + Array("Doe^J".utf8)
        let error = readError(bytes)
        #expect(error?.code == .truncated)
        #expect(error?.tag == .patientName)
        #expect(error?.offset == head.count)
    }

    @Test func truncatedHeaderErrorCarriesOffset() {
        let b = B(.explicitLittle)
        let head = B.part10(transferSyntax: Self.explicitLE, body: b.text(.sopInstanceUID, .UI, "2.25.1"))
        let error = readError(head + [0x10, 0x00, 0x10])
        #expect(error?.code == .truncated)
        #expect(error?.offset == head.count)
    }

    @Test func rejectsItemOutsideSequence() {
        let b = B(.explicitLittle)
        let head = B.part10(transferSyntax: Self.explicitLE, body: [])
        let error = readError(head + b.item(b.text(.codeValue, .SH, "X")))
        #expect(error?.code == .malformedSequence)
        #expect(error?.tag == .item)
        #expect(error?.offset == head.count)
    }

    @Test func rejectsNonItemInsideSequence() {
        let b = B(.explicitLittle)
        let body = b.sequence(.referencedStudySequence, items: [b.text(.codeValue, .SH, "X")], undefinedLength: true)
        let error = readError(B.part10(transferSyntax: Self.explicitLE, body: body))
        #expect(error?.code == .malformedSequence)
        #expect(error?.tag == .referencedStudySequence)
    }

    @Test func rejectsUndefinedLengthOnNonSequenceVR() {
        let b = B(.explicitLittle)
        let head = B.part10(transferSyntax: Self.explicitLE, body: [])
        let error = readError(head + b.header(.textValue, .UT, length: B.undefinedLength) + Array("text".utf8))
        #expect(error?.code == .invalidLength)
        #expect(error?.tag == .textValue)
        #expect(error?.offset == head.count)
    }

    @Test func rejectsItemLongerThanItsSequence() {
        let b = B(.explicitLittle)
        let itemBody = b.text(.codeValue, .SH, "X")
        let item = b.tag(.item) + b.u32(UInt32(itemBody.count + 100)) + itemBody
        let body = b.header(.referencedStudySequence, .SQ, length: UInt32(item.count)) + item
            + b.text(.patientName, .PN, Array(repeating: "A", count: 120).joined())
        let error = readError(B.part10(transferSyntax: Self.explicitLE, body: body))
        #expect(error?.code == .invalidLength)
        #expect(error?.tag == .referencedStudySequence)
    }

    @Test func rejectsUndefinedLengthItemWithoutDelimiter() {
        let b = B(.explicitLittle)
        let body = b.header(.referencedStudySequence, .SQ, length: B.undefinedLength)
            + b.tag(.item) + b.u32(B.undefinedLength) + b.text(.codeValue, .SH, "X")
        let error = readError(B.part10(transferSyntax: Self.explicitLE, body: body))
        #expect(error?.code == .truncated)
        #expect(error?.tag == .referencedStudySequence)
    }

    // MARK: Leniency

    @Test func sortsOutOfOrderElementsWithAWarning() throws {
        let b = B(.explicitLittle)
        let body = b.text(.patientName, .PN, "Later^Tag") + b.text(.modality, .CS, "CT")
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body))
        #expect(file.dataSet.elements.map(\.tag) == [.modality, .patientName])
        #expect(file.warnings.count == 1)
    }

    @Test func keepsTheLastOfDuplicateElements() throws {
        let b = B(.explicitLittle)
        let body = b.text(.patientName, .PN, "First") + b.text(.patientName, .PN, "Second")
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body))
        #expect(file.dataSet.count == 1)
        #expect(file.dataSet.string(.patientName) == "Second")
        #expect(!file.warnings.isEmpty)
    }

    /// The file says Explicit VR Little Endian and the dataset is little endian; its first group
    /// (2000, Film Session) merely looks like a byte-swapped small group number.
    @Test func trustsDeclaredLittleEndianWhenFirstGroupLooksSwapped() throws {
        let b = B(.explicitLittle)
        let body = b.text(Tag(0x2000, 0x0010), .IS, "1") + b.text(Tag(0x2000, 0x0030), .CS, "HIGH")
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: Self.explicitLE, body: body))
        #expect(file.dataSet.string(Tag(0x2000, 0x0010)) == "1")
        #expect(file.dataSet.string(Tag(0x2000, 0x0030)) == "HIGH")
    }

    @Test func readsUnknownTransferSyntaxByDetectingTheEncoding() throws {
        let b = B(.implicitLittle)
        let file = try Part10Reader.read(bytes: B.part10(transferSyntax: "1.2.3.4.5", body: b.text(.patientName, .PN, "Who^Knows")))
        #expect(file.transferSyntaxUID == "1.2.3.4.5")
        #expect(file.transferSyntax == nil)
        #expect(file.dataSet.string(.patientName) == "Who^Knows")
        #expect(!file.warnings.isEmpty)
    }
}
