extension EncapsulatedPixelData {
    /// Which fragments make up each frame (PS3.5 §A.4): from the Extended Offset Table when the
    /// dataset has one, else the Basic Offset Table, else one fragment per frame. Offsets are
    /// measured from the first fragment's item tag, so each must land on a fragment boundary.
    public func fragmentsPerFrame(numberOfFrames: Int, extendedOffsets: [UInt64]? = nil) throws -> [Range<Int>] {
        guard numberOfFrames > 0 else {
            throw DICOMParseError(.malformedEncapsulation, "Number of Frames must be at least 1", tag: .pixelData)
        }
        if numberOfFrames == 1 { return [0..<fragments.count] }
        let offsets: [UInt64] = extendedOffsets ?? basicOffsets.map(UInt64.init)
        if offsets.isEmpty {
            guard fragments.count == numberOfFrames else {
                throw DICOMParseError(.malformedEncapsulation,
                    "\(numberOfFrames) frames in \(fragments.count) fragments and no offset table to tell them apart",
                    tag: .pixelData)
            }
            return (0..<numberOfFrames).map { $0..<($0 + 1) }
        }
        guard offsets.count == numberOfFrames else {
            throw DICOMParseError(.malformedEncapsulation,
                "offset table has \(offsets.count) entries for \(numberOfFrames) frames", tag: .pixelData)
        }
        // Position of each fragment's item tag relative to the first fragment.
        var starts: [UInt64: Int] = [:]
        var position: UInt64 = 0
        for (index, fragment) in fragments.enumerated() {
            starts[position] = index
            position += 8 + UInt64(fragment.count)
        }
        var firstFragments: [Int] = []
        for offset in offsets {
            guard let index = starts[offset] else {
                throw DICOMParseError(.malformedEncapsulation, "offset \(offset) is not the start of a fragment", tag: .pixelData)
            }
            if let previous = firstFragments.last, index <= previous {
                throw DICOMParseError(.malformedEncapsulation, "offset table is not ascending", tag: .pixelData)
            }
            firstFragments.append(index)
        }
        return firstFragments.enumerated().map { i, first in
            first..<(i + 1 < firstFragments.count ? firstFragments[i + 1] : fragments.count)
        }
    }
}

extension DataSet {
    /// Extended Offset Table (7FE0,0001) as 64-bit offsets, when present (PS3.3 C.7.6.3.1.8).
    public var extendedOffsetTable: [UInt64]? {
        guard let bytes = self[.extendedOffsetTable]?.bytes else { return nil }
        return NumericValue.unsigned64(bytes)
    }
}
