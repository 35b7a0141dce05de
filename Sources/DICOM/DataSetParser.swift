/// How a dataset's bytes are encoded: VR explicit or implicit, byte order.
struct DataSetEncoding: Hashable {
    var explicitVR: Bool
    var bigEndian: Bool

    static let implicitLittle = DataSetEncoding(explicitVR: false, bigEndian: false)
    static let explicitLittle = DataSetEncoding(explicitVR: true, bigEndian: false)
    static let explicitBig = DataSetEncoding(explicitVR: true, bigEndian: true)
}

/// Parses a dataset from a byte buffer (PS3.5 §7). Lenient where real files are sloppy (warnings),
/// strict where continuing would mean guessing (typed errors with tag and offset); never traps.
struct DataSetParser {
    let buffer: UnsafeRawBufferPointer
    /// File offset of `buffer[0]`, so values can be left in the file; nil when the buffer is not
    /// the file (an inflated stream), in which case every value is loaded.
    let fileOffset: Int?
    let options: ReadOptions
    private(set) var warnings: [String] = []
    private let chunks: SharedChunks

    init(buffer: UnsafeRawBufferPointer, fileOffset: Int?, options: ReadOptions) {
        self.buffer = buffer
        self.fileOffset = fileOffset
        self.options = options
        chunks = SharedChunks(buffer: buffer)
    }

    /// Where and why a dataset ended.
    enum Stop { case end, itemDelimiter, sequenceDelimiter, pixelData }

    // MARK: Primitive reads (callers check bounds first)

    @inline(__always) func u16(_ at: Int, _ e: DataSetEncoding) -> UInt16 {
        let v = buffer.loadUnaligned(fromByteOffset: at, as: UInt16.self)
        return e.bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v)
    }

    @inline(__always) func u32(_ at: Int, _ e: DataSetEncoding) -> UInt32 {
        let v = buffer.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        return e.bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v)
    }

    /// Copies bytes out of the buffer with one memcpy (the generic Array initializer is ~10x slower).
    @inline(__always) func copyBytes(at offset: Int, count: Int) -> [UInt8] {
        guard count > 0, let base = buffer.baseAddress else { return [] }
        return Array(UnsafeBufferPointer(start: (base + offset).assumingMemoryBound(to: UInt8.self), count: count))
    }

    /// A value as a slice of a shared chunk (small values) or its own copy (large ones).
    @inline(__always) func slice(at offset: Int, count: Int) -> ArraySlice<UInt8> {
        chunks.slice(at: offset, count: count)
    }

    func error(_ code: DICOMParseError.Code, _ reason: String, tag: Tag? = nil, at offset: Int) -> DICOMParseError {
        DICOMParseError(code, reason, tag: tag, offset: offset + (fileOffset ?? 0))
    }

    // MARK: Datasets

    /// Parses elements from `start` until `end`, an item delimiter (when `inUndefinedItem`), or
    /// (at depth 0 when asked) Pixel Data. Returns the dataset, where parsing stopped, and why.
    mutating func parseDataSet(
        from start: Int, to end: Int, encoding: DataSetEncoding, depth: Int,
        inheritedCharacterSet: SpecificCharacterSet, inheritedPixelRepresentation: Int?,
        inUndefinedItem: Bool
    ) throws -> (DataSet, next: Int, stop: Stop) {
        guard depth <= options.maximumDepth else {
            throw error(.nestingTooDeep, "sequences nest deeper than \(options.maximumDepth) levels", at: start)
        }
        var elements: [DataElement] = []
        elements.reserveCapacity(depth == 0 ? 128 : 16)
        var inOrder = true
        var lastTag: Tag?
        var characterSet = inheritedCharacterSet
        var hasAmbiguousVR = false
        var pixelRepresentation = inheritedPixelRepresentation
        var pos = start
        var stop = Stop.end

        while pos < end {
            guard pos + 8 <= end else {
                throw error(.truncated, "stream ends inside an element header (\(end - pos) bytes left)", at: pos)
            }
            let tag = Tag(u16(pos, encoding), u16(pos + 2, encoding))
            if tag.group == 0xFFFE {
                if tag == .itemDelimitationItem {
                    if inUndefinedItem { pos += 8; stop = .itemDelimiter; break }
                    warnings.append("stray Item Delimitation Item at offset \(pos + (fileOffset ?? 0)) ignored")
                    pos += 8
                    continue
                }
                if tag == .sequenceDelimitationItem {
                    if inUndefinedItem {
                        // The item's own delimiter is missing: end the item, leave the sequence's for the caller.
                        warnings.append("item without Item Delimitation Item before offset \(pos + (fileOffset ?? 0))")
                        stop = .sequenceDelimiter
                        break
                    }
                    if depth == 0 {
                        warnings.append("stray Sequence Delimitation Item at offset \(pos + (fileOffset ?? 0)) ignored")
                        pos += 8
                        continue
                    }
                    stop = .sequenceDelimiter
                    break
                }
                throw error(.malformedSequence, "item tag outside a sequence", tag: tag, at: pos)
            }
            if depth == 0, options.stopBeforePixelData, tag.group == 0x7FE0,
               tag.element == 0x0010 || tag.element == 0x0008 || tag.element == 0x0009 {
                stop = .pixelData
                break
            }
            let element = try parseElement(at: &pos, end: end, tag: tag, encoding: encoding, depth: depth,
                                           characterSet: characterSet, pixelRepresentation: pixelRepresentation,
                                           hasAmbiguousVR: &hasAmbiguousVR)
            if tag == .specificCharacterSet, let bytes = element.bytes {
                characterSet = SpecificCharacterSet(rawValue: bytes)
            } else if tag == .pixelRepresentation, let bytes = element.bytes, bytes.count >= 2 {
                pixelRepresentation = Int(bytes[0]) | Int(bytes[1]) << 8
            }
            if let lastTag, lastTag >= tag {
                inOrder = false
                if lastTag == tag { warnings.append("duplicate element \(tag); the last one is kept") }
            }
            lastTag = tag
            elements.append(element)
        }
        if pos > end { throw error(.truncated, "element runs past the end of its container", at: end) }

        if !inOrder {
            warnings.append("elements out of ascending tag order were sorted")
            var unique: [Tag: DataElement] = [:]
            for element in elements { unique[element.tag] = element }
            elements = unique.values.sorted { $0.tag < $1.tag }
        }
        var dataSet = DataSet(sortedElements: elements, characterSet: characterSet)
        if hasAmbiguousVR {
            AmbiguousVR.resolve(in: &dataSet, inheritedPixelRepresentation: inheritedPixelRepresentation)
        }
        return (dataSet, pos, stop)
    }

    // MARK: Elements

    private mutating func parseElement(
        at pos: inout Int, end: Int, tag: Tag, encoding: DataSetEncoding, depth: Int,
        characterSet: SpecificCharacterSet, pixelRepresentation: Int?, hasAmbiguousVR: inout Bool
    ) throws -> DataElement {
        let headerStart = pos
        var vr: VR
        let length: UInt32
        if encoding.explicitVR {
            let b0 = buffer[pos + 4], b1 = buffer[pos + 5]
            if let explicit = VR(byte0: b0, byte1: b1) {
                vr = explicit
                if vr.hasLongExplicitLength {
                    guard pos + 12 <= end else { throw error(.truncated, "stream ends inside an element header", tag: tag, at: pos) }
                    length = u32(pos + 8, encoding)
                    pos += 12
                } else {
                    length = UInt32(u16(pos + 6, encoding))
                    pos += 8
                }
            } else if b0 >= 0x20 && b0 < 0x7F && b1 >= 0x20 && b1 < 0x7F {
                // A VR this reader does not know: PS3.5 §7.1.2 says new VRs use the long form.
                guard pos + 12 <= end else { throw error(.truncated, "stream ends inside an element header", tag: tag, at: pos) }
                warnings.append("unknown VR '\(String(decoding: [b0, b1], as: UTF8.self))' for \(tag) read as UN")
                vr = .UN
                length = u32(pos + 8, encoding)
                pos += 12
            } else {
                // Not a VR at all: an implicit-VR element inside an explicit dataset (a known encoder bug).
                warnings.append("element \(tag) at offset \(pos + (fileOffset ?? 0)) has no explicit VR; read as implicit")
                vr = DataDictionary.implicitVR(for: tag)
                length = u32(pos + 4, encoding)
                pos += 8
            }
        } else {
            vr = DataDictionary.implicitVR(for: tag)
            if !tag.isPrivate, DataDictionary.vrs(for: tag)?.isAmbiguous == true { hasAmbiguousVR = true }
            length = u32(pos + 4, encoding)
            pos += 8
        }

        if length == 0xFFFF_FFFF {
            if tag == .pixelData || (vr == .OB && tag.group == 0x7FE0) {
                let pixels = try parseEncapsulated(at: &pos, end: end, encoding: encoding, tag: tag)
                // PS3.5 A.4 says OB; some writers say OW. Keep what the file says (writers emit OB).
                return DataElement(tag: tag, vr: vr == .OW ? .OW : .OB, value: .encapsulated(pixels))
            }
            if vr == .SQ || vr == .UN || !encoding.explicitVR {
                // UN of undefined length is a sequence encoded in Implicit VR Little Endian (PS3.5 §6.2.2).
                let itemEncoding = vr == .UN ? DataSetEncoding.implicitLittle : encoding
                let items = try parseItems(at: &pos, end: end, undefinedLength: true, encoding: itemEncoding,
                                           depth: depth, tag: tag, characterSet: characterSet, pixelRepresentation: pixelRepresentation)
                return DataElement(tag: tag, vr: .SQ, value: .sequence(items))
            }
            throw error(.invalidLength, "undefined length on a \(vr.rawValue) element", tag: tag, at: headerStart)
        }

        let valueLength = Int(length)
        guard valueLength <= end - pos else {
            throw error(.truncated, "value of \(valueLength) bytes runs past the end (\(end - pos) bytes left)", tag: tag, at: headerStart)
        }

        if vr == .UN, encoding.explicitVR, tag.isPrivateCreator {
            vr = .LO // a Private Creator is always LO (PS3.5 §7.8.1)
        }
        // UN with a known public tag: read with the dictionary's VR (PS3.5 §6.2.2 note).
        if vr == .UN, encoding.explicitVR, !tag.isPrivate, let known = DataDictionary.vrs(for: tag), !known.isEmpty, known.first != .UN {
            if known.first == .SQ {
                var itemPos = pos
                let items = try parseItems(at: &itemPos, end: pos + valueLength, undefinedLength: false, encoding: .implicitLittle,
                                           depth: depth, tag: tag, characterSet: characterSet, pixelRepresentation: pixelRepresentation)
                pos += valueLength
                return DataElement(tag: tag, vr: .SQ, value: .sequence(items))
            }
            if known.isAmbiguous { hasAmbiguousVR = true }
            vr = known.first
        }

        if vr == .SQ {
            var itemPos = pos
            let items = try parseItems(at: &itemPos, end: pos + valueLength, undefinedLength: false, encoding: encoding,
                                       depth: depth, tag: tag, characterSet: characterSet, pixelRepresentation: pixelRepresentation)
            pos += valueLength
            return DataElement(tag: tag, vr: .SQ, value: .sequence(items))
        }

        let value = loadValue(at: pos, length: valueLength, vr: vr, encoding: encoding)
        pos += valueLength
        return DataElement(tag: tag, vr: vr, value: .bytes(value))
    }

    /// Copies a value (byte-swapped to little endian when needed), or leaves it in the file when
    /// it is large binary data and the options ask for that.
    private func loadValue(at pos: Int, length: Int, vr: VR, encoding: DataSetEncoding) -> LazyBytes {
        let swapUnit = encoding.bigEndian ? (vr.binaryUnitSize ?? 0) : 0
        if let threshold = options.deferValuesLongerThan, let fileOffset, length > threshold, vr.isBulkBinary {
            return .deferred(BulkDataReference(offset: fileOffset + pos, length: length, swapUnit: swapUnit))
        }
        if swapUnit > 1 {
            var bytes = copyBytes(at: pos, count: length)
            ByteOrder.swapInPlace(&bytes, unit: swapUnit)
            return .loaded(bytes[...])
        }
        return .loaded(slice(at: pos, count: length))
    }

    // MARK: Sequences

    private mutating func parseItems(
        at pos: inout Int, end: Int, undefinedLength: Bool, encoding: DataSetEncoding, depth: Int, tag: Tag,
        characterSet: SpecificCharacterSet, pixelRepresentation: Int?
    ) throws -> [DataSet] {
        var items: [DataSet] = []
        while true {
            if !undefinedLength && pos >= end { break }
            guard pos + 8 <= end else {
                if undefinedLength {
                    throw error(.truncated, "sequence without a Sequence Delimitation Item", tag: tag, at: pos)
                }
                throw error(.truncated, "stream ends inside an item header", tag: tag, at: pos)
            }
            let itemTag = Tag(u16(pos, encoding), u16(pos + 2, encoding))
            let itemLength = u32(pos + 4, encoding)
            if itemTag == .sequenceDelimitationItem {
                pos += 8
                if !undefinedLength { warnings.append("Sequence Delimitation Item inside defined-length \(tag)") }
                break
            }
            guard itemTag == .item else {
                throw error(.malformedSequence, "expected an Item in sequence, found \(itemTag)", tag: tag, at: pos)
            }
            pos += 8
            if itemLength == 0xFFFF_FFFF {
                let (item, next, stop) = try parseDataSet(
                    from: pos, to: end, encoding: encoding, depth: depth + 1, inheritedCharacterSet: characterSet,
                    inheritedPixelRepresentation: pixelRepresentation, inUndefinedItem: true)
                if stop == .end, undefinedLength {
                    throw error(.truncated, "item without an Item Delimitation Item", tag: tag, at: next)
                }
                items.append(item)
                pos = next
            } else {
                let itemEnd = pos + Int(itemLength)
                guard itemEnd <= end else {
                    throw error(.invalidLength, "item of \(itemLength) bytes runs past its sequence", tag: tag, at: pos - 8)
                }
                let (item, _, _) = try parseDataSet(
                    from: pos, to: itemEnd, encoding: encoding, depth: depth + 1, inheritedCharacterSet: characterSet,
                    inheritedPixelRepresentation: pixelRepresentation, inUndefinedItem: false)
                items.append(item)
                pos = itemEnd
            }
        }
        return items
    }

    /// Encapsulated Pixel Data: Basic Offset Table item, fragment items, Sequence Delimitation Item.
    private mutating func parseEncapsulated(at pos: inout Int, end: Int, encoding: DataSetEncoding, tag: Tag) throws -> EncapsulatedPixelData {
        var offsetTable: [UInt8]?
        var fragments: [LazyBytes] = []
        while true {
            guard pos + 8 <= end else {
                throw error(.truncated, "encapsulated Pixel Data without a Sequence Delimitation Item", tag: tag, at: pos)
            }
            let itemTag = Tag(u16(pos, encoding), u16(pos + 2, encoding))
            let length = u32(pos + 4, encoding)
            pos += 8
            if itemTag == .sequenceDelimitationItem { break }
            guard itemTag == .item else {
                throw error(.malformedEncapsulation, "expected a fragment Item, found \(itemTag)", tag: tag, at: pos - 8)
            }
            guard length != 0xFFFF_FFFF, Int(length) <= end - pos else {
                throw error(.malformedEncapsulation, "fragment length \(length) is undefined or runs past the end", tag: tag, at: pos - 8)
            }
            let n = Int(length)
            if offsetTable == nil {
                offsetTable = copyBytes(at: pos, count: n)
            } else if options.deferValuesLongerThan != nil, let fileOffset {
                fragments.append(.deferred(BulkDataReference(offset: fileOffset + pos, length: n)))
            } else {
                fragments.append(.loaded(slice(at: pos, count: n)))
            }
            pos += n
        }
        return EncapsulatedPixelData(basicOffsetTable: offsetTable ?? [], fragments: fragments)
    }
}

/// Byte-order conversion of binary values.
enum ByteOrder {
    static func swapInPlace(_ bytes: inout [UInt8], unit: Int) {
        guard unit > 1 else { return }
        let count = bytes.count - bytes.count % unit
        bytes.withUnsafeMutableBufferPointer { p in
            var i = 0
            while i < count {
                var lo = i, hi = i + unit - 1
                while lo < hi { p.swapAt(lo, hi); lo += 1; hi -= 1 }
                i += unit
            }
        }
    }
}

/// PS3.5 Annex A.1 / PS3.6: elements whose VR depends on context (US or SS, OB or OW, US or OW)
/// get a concrete VR when the encoding is implicit.
enum AmbiguousVR {
    static func resolve(in dataSet: inout DataSet, inheritedPixelRepresentation: Int?) {
        let pixelRepresentation = dataSet.int(.pixelRepresentation) ?? inheritedPixelRepresentation ?? 0
        let lutDescriptorFirst = dataSet.ints(.lutDescriptor)?.first
        for var element in dataSet.elements {
            guard !element.tag.isPrivate, let entry = DataDictionary.vrs(for: element.tag), entry.isAmbiguous,
                  case .bytes = element.value, element.vr == entry.first else { continue }
            let resolved: VR
            switch element.tag {
            case .pixelData: resolved = .OW
            case .lutData: resolved = lutDescriptorFirst == 1 ? .US : .OW
            default:
                if entry.contains(.SS) && entry.contains(.US) && !entry.contains(.OW) {
                    resolved = pixelRepresentation == 0 ? .US : .SS
                } else if entry.contains(.OW) {
                    resolved = .OW
                } else {
                    continue
                }
            }
            if resolved != element.vr {
                element.vr = resolved
                dataSet.set(element)
            }
        }
    }
}

/// Copies of the parsed buffer in chunks that small values slice into: one allocation per 16 KiB
/// of header instead of one per element. Chunks live as long as a value slicing them does.
final class SharedChunks {
    private let buffer: UnsafeRawBufferPointer
    private var chunkStart = 0
    private var chunk: [UInt8] = []
    static let chunkSize = 16 * 1024
    /// Larger values get their own array (so a small slice never pins a large chunk).
    static let largestShared = 2 * 1024

    init(buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
    }

    func slice(at offset: Int, count: Int) -> ArraySlice<UInt8> {
        guard count > 0, let base = buffer.baseAddress else { return [] }
        if count > Self.largestShared {
            return Array(UnsafeBufferPointer(start: (base + offset).assumingMemoryBound(to: UInt8.self), count: count))[...]
        }
        if offset < chunkStart || offset + count > chunkStart + chunk.count {
            chunkStart = offset
            let length = min(max(Self.chunkSize, count), buffer.count - offset)
            chunk = Array(UnsafeBufferPointer(start: (base + offset).assumingMemoryBound(to: UInt8.self), count: length))
        }
        return chunk[(chunk.startIndex + offset - chunkStart)..<(chunk.startIndex + offset - chunkStart + count)]
    }
}
