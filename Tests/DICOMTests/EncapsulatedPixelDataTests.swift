import DICOM
import Testing

@Suite struct EncapsulatedPixelDataTests {
    /// Fragment values of the given sizes, each an even number of bytes.
    static func pixels(_ sizes: [Int], offsets: [UInt32] = []) -> EncapsulatedPixelData {
        let table = NumericValue.encode(offsets.map(UInt64.init), size: 4)
        return EncapsulatedPixelData(basicOffsetTable: table, fragments: sizes.map { .bytes([UInt8](repeating: 1, count: $0)) })
    }

    @Test func mapsFramesThroughTheBasicOffsetTable() throws {
        // frame 1 = fragments 0,1 (10 + 20 bytes), frame 2 = fragment 2
        let data = Self.pixels([10, 20, 30], offsets: [0, 8 + 10 + 8 + 20])
        #expect(try data.fragmentsPerFrame(numberOfFrames: 2) == [0..<2, 2..<3])
    }

    @Test func prefersTheExtendedOffsetTable() throws {
        let data = Self.pixels([10, 20, 30])
        #expect(try data.fragmentsPerFrame(numberOfFrames: 3, extendedOffsets: [0, 18, 46]) == [0..<1, 1..<2, 2..<3])
    }

    @Test func usesOneFragmentPerFrameWithoutATable() throws {
        #expect(try Self.pixels([4, 4, 4]).fragmentsPerFrame(numberOfFrames: 3) == [0..<1, 1..<2, 2..<3])
        #expect(try Self.pixels([4, 4, 4]).fragmentsPerFrame(numberOfFrames: 1) == [0..<3])
    }

    @Test func rejectsOffsetsInsideAFragment() {
        let data = Self.pixels([10, 20], offsets: [0, 12])
        #expect(throws: DICOMParseError.self) { try data.fragmentsPerFrame(numberOfFrames: 2) }
    }

    @Test func rejectsAmbiguousFramesWithoutATable() {
        #expect(throws: DICOMParseError.self) { try Self.pixels([4, 4, 4]).fragmentsPerFrame(numberOfFrames: 2) }
    }

    @Test func itemStreamMatchesItsDeclaredLength() {
        let data = Self.pixels([10, 20], offsets: [0, 18])
        let stream = data.itemStream { _ in [] }
        #expect(stream.count == data.itemStreamLength)
        #expect(Array(stream.prefix(8)) == [0xFE, 0xFF, 0x00, 0xE0, 8, 0, 0, 0])
    }
}

@Suite struct DictionaryVRIndexTests {
    @Test func everyDictionaryEntryHasTheSameVRsInTheFastIndex() throws {
        for entry in DataDictionary.allEntries {
            // Repeating-group patterns are probed at one concrete tag (x nibbles = 2); both
            // lookups must then agree, whichever entry wins at that tag.
            let probe = DICOM.Tag(rawValue: entry.tagPattern | (~entry.mask & 0x2222_2222))
            let fast = try #require(DataDictionary.vrs(for: probe), "no VRs for \(probe)")
            let full = try #require(DataDictionary.entry(for: probe))
            #expect(fast.all == full.vrs, "\(probe) \(full.keyword)")
            if entry.mask == 0xFFFF_FFFF { #expect(full == entry) }
        }
    }
}
