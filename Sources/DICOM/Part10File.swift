import Foundation

/// A DICOM Part 10 file: file meta information (group 0002) and the dataset.
public struct Part10File: Sendable {
    /// File Meta Information elements (group 0002), empty for a raw dataset without meta.
    public var fileMetaInformation: DataSet
    public var dataSet: DataSet
    /// Transfer Syntax UID from the meta group (or the one detected for a file without it).
    public var transferSyntaxUID: String
    /// True when the file had the 128-byte preamble and "DICM".
    public var hasPreamble: Bool
    /// True when reading stopped before Pixel Data (header-only mode).
    public var stoppedBeforePixelData: Bool
    /// Byte offset of the element that stopped a header-only read (the Pixel Data header).
    public var pixelDataOffset: Int?
    /// Where the file came from, for reading deferred values.
    public var sourcePath: String?
    /// Things a lenient reader tolerated (missing meta, odd lengths, unsorted elements, ...).
    public var warnings: [String]

    public init(fileMetaInformation: DataSet = DataSet(), dataSet: DataSet, transferSyntaxUID: String,
                hasPreamble: Bool = true, stoppedBeforePixelData: Bool = false, pixelDataOffset: Int? = nil,
                sourcePath: String? = nil, warnings: [String] = []) {
        self.fileMetaInformation = fileMetaInformation
        self.dataSet = dataSet
        self.transferSyntaxUID = transferSyntaxUID
        self.hasPreamble = hasPreamble
        self.stoppedBeforePixelData = stoppedBeforePixelData
        self.pixelDataOffset = pixelDataOffset
        self.sourcePath = sourcePath
        self.warnings = warnings
    }

    /// The transfer syntax, when it is one MiniVNA knows.
    public var transferSyntax: TransferSyntax? { TransferSyntax(uid: transferSyntaxUID) }

    /// Reads a deferred value from the source file (seek + read; nothing else is loaded).
    public func load(_ reference: BulkDataReference) throws -> [UInt8] {
        guard let sourcePath else {
            throw DICOMParseError(.io, "deferred value has no source file")
        }
        return try BulkDataReader.read(reference, from: sourcePath)
    }

    /// Returns a copy of `dataSet` with every deferred value loaded (recursively).
    public func loadingDeferredValues() throws -> DataSet {
        try BulkDataReader.loadAll(dataSet) { try load($0) }
    }
}

/// Reads byte ranges of files lazily: the way a 1 GB multi-frame's frames are served.
public enum BulkDataReader {
    /// One `open` and `pread`s straight into the result (no `Data` in between: frames and
    /// rendered images read a value per request, and every copy showed).
    public static func read(_ reference: BulkDataReference, from path: String) throws -> [UInt8] {
        guard reference.offset >= 0, reference.length >= 0 else {
            throw DICOMParseError(.invalidLength, "negative offset or length of a deferred value", offset: reference.offset)
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DICOMParseError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Checked against the file's size before anything is allocated from the header's length.
        var info = stat()
        guard fstat(fd, &info) == 0, reference.offset + reference.length <= Int(info.st_size) else {
            throw DICOMParseError(.truncated, "file ends before the deferred value does", offset: reference.offset)
        }
        var failure: Int32 = 0
        var bytes = [UInt8](unsafeUninitializedCapacity: reference.length) { buffer, initialized in
            var done = 0
            while done < reference.length {
                let n = pread(fd, buffer.baseAddress! + done, reference.length - done, off_t(reference.offset + done))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno }
                guard n > 0 else { break }
                done += n
            }
            initialized = done
        }
        guard failure == 0 else {
            throw DICOMParseError(.io, "cannot read \(path): \(String(cString: strerror(failure)))", offset: reference.offset)
        }
        guard bytes.count == reference.length else {
            throw DICOMParseError(.truncated, "file ends before the deferred value does", offset: reference.offset)
        }
        ByteOrder.swapInPlace(&bytes, unit: reference.swapUnit)
        return bytes
    }

    static func loadAll(_ dataSet: DataSet, load: (BulkDataReference) throws -> [UInt8]) throws -> DataSet {
        var result = dataSet
        for element in dataSet.elements {
            switch element.value {
            case .bytes(.deferred(let reference)):
                result.set(DataElement(tag: element.tag, vr: element.vr, bytes: try load(reference)))
            case .sequence(let items):
                let loaded = try items.map { try loadAll($0, load: load) }
                result.set(DataElement(tag: element.tag, vr: element.vr, value: .sequence(loaded)))
            case .encapsulated(var pixels):
                pixels.fragments = try pixels.fragments.map { fragment in
                    if case .deferred(let reference) = fragment { return .bytes(try load(reference)) }
                    return fragment
                }
                result.set(DataElement(tag: element.tag, vr: element.vr, value: .encapsulated(pixels)))
            case .bytes(.loaded):
                continue
            }
        }
        return result
    }
}
