/// Where a value not loaded into memory lives: a byte range of the source file.
/// Readers leave large binary values here so indexing a 1 GB multi-frame never loads its pixels.
public struct BulkDataReference: Hashable, Sendable {
    /// Byte offset of the value in the source file.
    public let offset: Int
    public let length: Int
    /// When the file is big endian, the unit to byte-swap on load (0 when no swap is needed).
    public let swapUnit: Int

    public init(offset: Int, length: Int, swapUnit: Int = 0) {
        self.offset = offset
        self.length = length
        self.swapUnit = swapUnit
    }
}

/// Binary bytes that are either in memory or still in the source file.
///
/// In-memory values are slices: the parser copies a header in a few large chunks and every small
/// value shares one of them, instead of one allocation per element (the index's hot path).
public enum LazyBytes: Hashable, Sendable {
    case loaded(ArraySlice<UInt8>)
    case deferred(BulkDataReference)

    /// In-memory bytes.
    public static func bytes(_ bytes: [UInt8]) -> LazyBytes { .loaded(bytes[...]) }

    public var count: Int {
        switch self {
        case .loaded(let bytes): return bytes.count
        case .deferred(let reference): return reference.length
        }
    }

    /// The bytes when loaded; nil when still deferred.
    public var loadedBytes: [UInt8]? {
        if case .loaded(let bytes) = self { return Array(bytes) }
        return nil
    }
}

/// Encapsulated (compressed) Pixel Data: the Basic Offset Table item and the fragments (PS3.5 §A.4).
public struct EncapsulatedPixelData: Hashable, Sendable {
    /// The first item's value: empty, or one 32-bit offset per frame.
    public var basicOffsetTable: [UInt8]
    public var fragments: [LazyBytes]

    public init(basicOffsetTable: [UInt8] = [], fragments: [LazyBytes]) {
        self.basicOffsetTable = basicOffsetTable
        self.fragments = fragments
    }

    /// The Basic Offset Table's offsets (little endian 32-bit values).
    public var basicOffsets: [UInt32] {
        stride(from: 0, to: basicOffsetTable.count - 3, by: 4).map { i in
            UInt32(basicOffsetTable[i]) | UInt32(basicOffsetTable[i + 1]) << 8
                | UInt32(basicOffsetTable[i + 2]) << 16 | UInt32(basicOffsetTable[i + 3]) << 24
        }
    }

    /// Size of `itemStream`: 8 bytes of item header per item plus the values.
    public var itemStreamLength: Int {
        8 + basicOffsetTable.count + fragments.reduce(0) { $0 + 8 + $1.count }
    }

    /// The value as a byte stream (items with their tags and lengths, no sequence delimiter),
    /// the form pydicom and the DICOM JSON model's InlineBinary use.
    public func itemStream(loading load: (BulkDataReference) throws -> [UInt8]) rethrows -> [UInt8] {
        var out: [UInt8] = []
        func appendItem(_ bytes: [UInt8]) {
            out.append(contentsOf: [0xFE, 0xFF, 0x00, 0xE0])
            let n = UInt32(bytes.count)
            out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)])
            out.append(contentsOf: bytes)
        }
        appendItem(basicOffsetTable)
        for fragment in fragments {
            switch fragment {
            case .loaded(let bytes): appendItem(Array(bytes))
            case .deferred(let reference): appendItem(try load(reference))
            }
        }
        return out
    }
}

/// An element's value. Binary numbers are held little endian whatever the source byte order;
/// text is held as the raw bytes and decoded with the dataset's character set on access.
public enum ElementValue: Hashable, Sendable {
    case bytes(LazyBytes)
    case sequence([DataSet])
    case encapsulated(EncapsulatedPixelData)
}

/// One data element: tag, VR and value.
public struct DataElement: Hashable, Sendable {
    public let tag: Tag
    public var vr: VR
    public var value: ElementValue

    public init(tag: Tag, vr: VR, value: ElementValue) {
        self.tag = tag
        self.vr = vr
        self.value = value
    }

    public init(tag: Tag, vr: VR, bytes: [UInt8]) {
        self.init(tag: tag, vr: vr, value: .bytes(.loaded(bytes[...])))
    }

    /// The in-memory bytes of a non-sequence value; nil for sequences, fragments and deferred values.
    public var bytes: [UInt8]? {
        if case .bytes(.loaded(let bytes)) = value { return Array(bytes) }
        return nil
    }

    public var items: [DataSet]? {
        if case .sequence(let items) = value { return items }
        return nil
    }

    /// Length of the value in bytes as it would be encoded (sequences and fragments excluded).
    public var valueLength: Int {
        switch value {
        case .bytes(let lazy): return lazy.count
        case .sequence, .encapsulated: return -1
        }
    }

    /// True when the value is empty (zero length, or a sequence without items).
    public var isEmpty: Bool {
        switch value {
        case .bytes(let lazy): return lazy.count == 0
        case .sequence(let items): return items.isEmpty
        case .encapsulated: return false
        }
    }
}
