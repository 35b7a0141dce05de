import DICOM
import Foundation
import Imaging
import Testing

@Suite struct ZlibDeflateTests {
    @Test func deflateThenInflateGivesBackTheBytes() throws {
        var bytes: [UInt8] = []
        for i in 0..<200_000 { bytes.append(UInt8(truncatingIfNeeded: i * 7 / 13)) }
        let codec = ZlibDeflate()
        let compressed = try bytes.withUnsafeBytes { try codec.deflate($0) }
        #expect(compressed.count < bytes.count / 4)
        let inflated = try compressed.withUnsafeBytes { try codec.inflate($0) }
        #expect(inflated == bytes)
    }

    @Test func rejectsGarbageWithAZlibError() throws {
        let garbage: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x12, 0x34]
        #expect(throws: CodecError.self) { try garbage.withUnsafeBytes { try ZlibDeflate().inflate($0) } }
    }

    @Test func refusesToInflatePastItsLimit() throws {
        let zeros = [UInt8](repeating: 0, count: 1_000_000)
        let compressed = try zeros.withUnsafeBytes { try ZlibDeflate().deflate($0) }
        let limited = ZlibDeflate(maximumInflatedSize: 100_000)
        #expect(throws: CodecError.self) { try compressed.withUnsafeBytes { try limited.inflate($0) } }
    }

    @Test func readsTheDeflatedFixtureLikeItsExplicitTwin() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures")
        let deflated = try Part10Reader.read(path: fixtures.appendingPathComponent("deflated/deflated.dcm").path,
                                             options: ReadOptions(inflater: ZlibDeflate()))
        #expect(deflated.transferSyntax == .deflatedExplicitVRLittleEndian)
        #expect(deflated.dataSet.string(.modality) == "CT")
        let rows = try #require(deflated.dataSet.int(.rows))
        let columns = try #require(deflated.dataSet.int(.columns))
        let pixels = try #require(deflated.dataSet[.pixelData]?.bytes)
        #expect(pixels.count == rows * columns * 2)
    }
}
