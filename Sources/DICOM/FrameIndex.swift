/// Where each frame of an instance's Pixel Data is, so WADO-RS can serve frames without loading
/// the whole value: byte ranges in the file (or bytes already in memory, for small or deflated
/// values). Native frames are `Rows x Columns x Samples per Pixel x Bits Allocated / 8` bytes
/// each, one after the other (PS3.5 §8.1.1); encapsulated frames are one or more fragments
/// (PS3.5 §A.4, located through the offset tables).
public struct FrameIndex: Sendable {
    /// A piece of a frame: a range of the file, or bytes the reader kept in memory.
    public enum Piece: Sendable {
        case file(BulkDataReference)
        case memory(ArraySlice<UInt8>)

        public var count: Int {
            switch self {
            case .file(let reference): return reference.length
            case .memory(let bytes): return bytes.count
            }
        }
    }

    public let isEncapsulated: Bool
    /// Pieces of each frame, in order.
    public let frames: [[Piece]]

    public var numberOfFrames: Int { frames.count }

    /// Native Pixel Data as one piece, whatever its frames: for re-encoding a value whose frames
    /// cannot be cut apart (1-bit frames that do not end on a byte boundary). Nil when the
    /// value is encapsulated or missing.
    public init?(wholeNativeValueOf file: Part10File) {
        guard case .bytes(let value) = file.dataSet[.pixelData]?.value else { return nil }
        isEncapsulated = false
        switch value {
        case .deferred(let reference): frames = [[.file(reference)]]
        case .loaded(let bytes): frames = [[.memory(bytes)]]
        }
    }

    /// - Parameter file: read with `deferValuesLongerThan: 0` so that Pixel Data stays in the file.
    public init(_ file: Part10File) throws {
        let dataSet = file.dataSet
        guard let pixelData = dataSet[.pixelData] ?? dataSet[.floatPixelData] ?? dataSet[.doubleFloatPixelData] else {
            throw DICOMParseError(.invalidValue, "the instance has no Pixel Data", tag: .pixelData)
        }
        let declaredFrames = dataSet.string(.numberOfFrames).flatMap(ValueParsing.integerString) ?? 1
        switch pixelData.value {
        case .encapsulated(let pixels):
            isEncapsulated = true
            guard declaredFrames <= max(pixels.fragments.count, 1) else {
                throw DICOMParseError(.malformedEncapsulation,
                    "Number of Frames is \(declaredFrames) but Pixel Data has \(pixels.fragments.count) fragments", tag: .pixelData)
            }
            let groups = try pixels.fragmentsPerFrame(numberOfFrames: max(declaredFrames, 1),
                                                      extendedOffsets: dataSet.extendedOffsetTable)
            frames = groups.map { range in
                pixels.fragments[range].map { fragment in
                    switch fragment {
                    case .deferred(let reference): return .file(reference)
                    case .loaded(let bytes): return .memory(bytes)
                    }
                }
            }
        case .bytes(let value):
            isEncapsulated = false
            let rows = dataSet.int(.rows) ?? 0, columns = dataSet.int(.columns) ?? 0
            let samples = dataSet.int(.samplesPerPixel) ?? 1
            let bitsAllocated = dataSet.int(.bitsAllocated) ?? 0
            // The values come from the file: bounded before any arithmetic (US attributes, but a
            // file may encode them otherwise).
            guard (1...65535).contains(rows), (1...65535).contains(columns), (1...4).contains(samples),
                  (1...64).contains(bitsAllocated) else {
                throw DICOMParseError(.invalidValue,
                    "Rows, Columns, Samples per Pixel or Bits Allocated is missing or out of range", tag: .pixelData)
            }
            // 1-bit frames (segmentations) are packed one after the other: servable as byte
            // ranges when each frame ends on a byte boundary.
            // Native YBR_FULL_422 stores two samples per pixel (Y1 Y2 Cb Cr per pair of pixels,
            // PS3.3 C.7.6.3.1.2), not three.
            let storedSamples = samples == 3 && dataSet.string(.photometricInterpretation) == "YBR_FULL_422" ? 2 : samples
            let frameBits = rows * columns * storedSamples * bitsAllocated
            guard frameBits % 8 == 0 else {
                throw DICOMParseError(.invalidValue,
                    "frames of \(rows)x\(columns) \(bitsAllocated)-bit pixels do not start on byte boundaries", tag: .bitsAllocated)
            }
            let frameLength = frameBits / 8
            let count = max(declaredFrames, 1)
            guard count <= value.count / frameLength else {
                throw DICOMParseError(.truncated,
                    "Pixel Data holds \(value.count) bytes: fewer than \(count) frame(s) of \(frameLength) bytes", tag: .pixelData)
            }
            switch value {
            case .deferred(let reference):
                frames = (0..<count).map { index in
                    [.file(BulkDataReference(offset: reference.offset + index * frameLength, length: frameLength,
                                             swapUnit: reference.swapUnit))]
                }
            case .loaded(let bytes):
                frames = (0..<count).map { index in
                    let start = bytes.startIndex + index * frameLength
                    return [.memory(bytes[start..<start + frameLength])]
                }
            }
        case .sequence:
            throw DICOMParseError(.invalidValue, "Pixel Data is encoded as a sequence", tag: .pixelData)
        }
    }

    /// The bytes of frame `index` (0-based), read from `path` where they are in the file.
    public func bytes(ofFrame index: Int, path: String) throws -> [UInt8] {
        try Self.bytes(of: frames[index], path: path)
    }

    /// The bytes of some pieces, in order, read from `path` where they are in the file.
    public static func bytes(of pieces: [Piece], path: String) throws -> [UInt8] {
        // One piece (a native frame, a single-fragment frame): its bytes as read, not a copy.
        if pieces.count == 1, case .file(let reference) = pieces[0] { return try BulkDataReader.read(reference, from: path) }
        var out: [UInt8] = []
        out.reserveCapacity(pieces.reduce(0) { $0 + $1.count })
        for piece in pieces {
            switch piece {
            case .file(let reference): out += try BulkDataReader.read(reference, from: path)
            case .memory(let bytes): out += bytes
            }
        }
        return out
    }
}
