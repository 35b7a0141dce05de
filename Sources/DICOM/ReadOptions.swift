/// How much of a Part 10 stream to read, and how.
public struct ReadOptions: Sendable {
    /// Stop at Pixel Data (7FE0,0010), Float/Double Float Pixel Data at the top level, without
    /// reading it: the header-only mode indexing uses.
    public var stopBeforePixelData: Bool = false
    /// Binary values longer than this many bytes (and every encapsulated fragment) are left in the
    /// file as `BulkDataReference`s and read later on demand. nil loads everything.
    /// Only applies when reading a file (not an in-memory or inflated stream).
    public var deferValuesLongerThan: Int? = nil
    /// Maximum sequence nesting depth; deeper input is rejected (hostile input guard).
    public var maximumDepth: Int = 64
    /// Accept a dataset with no preamble/"DICM" (raw dataset, encoding detected), as pydicom's
    /// `force=True` and DCMTK do. Such files get a warning.
    public var allowMissingPreamble: Bool = true
    /// Inflater for the Deflated transfer syntax (`Imaging.ZlibDeflate`); nil rejects such files.
    public var inflater: (any DeflateDecoding)? = nil

    public init(stopBeforePixelData: Bool = false, deferValuesLongerThan: Int? = nil,
                inflater: (any DeflateDecoding)? = nil) {
        self.stopBeforePixelData = stopBeforePixelData
        self.deferValuesLongerThan = deferValuesLongerThan
        self.inflater = inflater
    }

    /// Header-only: no pixel data, large values left in the file.
    public static func headerOnly(inflater: (any DeflateDecoding)? = nil) -> ReadOptions {
        ReadOptions(stopBeforePixelData: true, deferValuesLongerThan: 4096, inflater: inflater)
    }
}
