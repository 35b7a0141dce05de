import DICOM
import Foundation
@testable import Imaging
import Testing

/// `InstancePixels`: frames as stored, converted and rendered from one opened file, including a
/// Deflated one, whose values are held in memory once inflated rather than left in the file.
@Suite struct InstancePixelsTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func open(_ name: String) throws -> InstancePixels {
        try InstancePixels(path: fixtures.appendingPathComponent(name).path,
                           options: ReadOptions(deferValuesLongerThan: 0, inflater: ZlibDeflate()))
    }

    @Test func aDeflatedInstanceGivesTheSameFramesAsItsExplicitTwin() throws {
        let deflated = try Self.open("deflated/deflated.dcm")
        #expect(deflated.transferSyntaxUID == TransferSyntax.deflatedExplicitVRLittleEndian.uid)
        let frames = try deflated.frames()
        #expect(frames.numberOfFrames == 1)
        guard case .memory = frames.frames[0][0] else {
            Issue.record("an inflated dataset's Pixel Data is in memory, not a file range")
            return
        }
        let native = try deflated.frame(0, in: TransferSyntax.explicitVRLittleEndian.uid)
        let twin = try Self.open("ct/ct_0003.dcm")
        #expect(native == (try twin.frame(0, in: TransferSyntax.explicitVRLittleEndian.uid)))
        #expect(native.count == 64 * 64 * 2)
    }

    @Test func convertsAFrameIntoAnEncodedSyntaxAndBack() throws {
        let pixels = try Self.open("deflated/deflated.dcm")
        let native = try pixels.frame(0, in: TransferSyntax.explicitVRLittleEndian.uid)
        for syntax in [TransferSyntax.jpeg2000Lossless, .rleLossless] {
            let encoded = try pixels.frame(0, in: syntax.uid)
            #expect(encoded != native)
            let description = try PixelDescription(pixels.file.dataSet)
            #expect(try FrameDecoder.decode(encoded, transferSyntaxUID: syntax.uid, description).bytes == native, "\(syntax.name)")
        }
        #expect(throws: CodecError.self) { try pixels.frame(0, in: TransferSyntax.jpegLSLossless.uid) }
        #expect(throws: CodecError.self) { try pixels.frame(1, in: TransferSyntax.explicitVRLittleEndian.uid) }
    }

    @Test func compressedFramesAreSentAsStoredOrDecoded() throws {
        let pixels = try Self.open("jpeg2000/j2k_lossless.dcm")
        let twin = try Self.open("jpeg2000/j2k_lossless_uncompressed.dcm")
        let frames = try pixels.frames()
        #expect(frames.isEncapsulated)
        #expect(try pixels.frame(0, in: pixels.transferSyntaxUID) == (try frames.bytes(ofFrame: 0, path: pixels.path)))
        #expect(try pixels.frame(0, in: TransferSyntax.explicitVRLittleEndian.uid)
                == (try twin.frame(0, in: TransferSyntax.explicitVRLittleEndian.uid)))
    }

    @Test func rendersADeflatedInstanceLikeItsTwin() throws {
        let deflated = try Self.open("deflated/deflated.dcm").render(frame: 0, options: RenderOptions())
        let twin = try Self.open("ct/ct_0003.dcm").render(frame: 0, options: RenderOptions())
        #expect(deflated.width == 64 && deflated.height == 64)
        #expect(deflated.pixels == twin.pixels)
    }

    @Test func anInstanceWithoutPixelDataHasNoFramesButTranscodes() throws {
        var ds = DataSet(characterSet: .utf8)
        ds.setString(.sopClassUID, vr: .UI, "1.2.840.10008.5.1.4.1.1.88.22")
        ds.setString(.sopInstanceUID, vr: .UI, "2.25.7")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-pixels-\(UUID().uuidString).dcm").path
        try Data(try Part10Writer.write(ds)).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let pixels = try InstancePixels(path: path, options: ReadOptions(deferValuesLongerThan: 0))
        #expect(throws: DICOMParseError.self) { try pixels.frames() }
        var out: [UInt8] = []
        try pixels.transcoding(to: TransferSyntax.implicitVRLittleEndian.uid).write { out += $0 }
        #expect(try Part10Reader.read(bytes: out).transferSyntaxUID == TransferSyntax.implicitVRLittleEndian.uid)
    }
}
