/// Writes DICOM Part 10 files in Explicit VR Little Endian (or, for encapsulated pixel data, the
/// compressed transfer syntax the data is in, whose dataset encoding is explicit little endian too).
///
/// Strict: values are padded to even length, sequences and items use undefined length with
/// delimiters, the file meta group is rebuilt with a correct group length.
public enum Part10Writer {
    /// MiniVNA's Implementation Class UID (PS3.7 D.3.3.2), a fixed 2.25 UID.
    public static let implementationClassUID = "2.25.215427716934093727829381296616374123077"
    public static let implementationVersionName = "MINIVNA_0_1"

    /// Encodes a file. `meta` may carry elements to keep (e.g. Source AE Title); the required
    /// ones are computed from the dataset.
    /// - Parameter load: reads deferred values; required when the dataset has any.
    public static func write(
        _ dataSet: DataSet, meta: DataSet = DataSet(), transferSyntaxUID: String? = nil,
        load: ((BulkDataReference) throws -> [UInt8])? = nil
    ) throws -> [UInt8] {
        let syntaxUID = transferSyntaxUID ?? defaultTransferSyntax(for: dataSet).uid
        let implicit = syntaxUID == TransferSyntax.implicitVRLittleEndian.uid
        if let syntax = TransferSyntax(uid: syntaxUID), !implicit, !syntax.isExplicitVR || syntax.isBigEndian || syntax.isDeflated {
            throw DICOMParseError(.invalidValue,
                "the writer encodes Explicit or Implicit VR Little Endian datasets only, not \(syntax.name)")
        }
        var writer = ByteWriter(load: load)
        writer.bytes.append(contentsOf: [UInt8](repeating: 0, count: 128))
        writer.bytes.append(contentsOf: Array("DICM".utf8))
        try writer.writeMeta(buildMeta(for: dataSet, meta: meta, transferSyntaxUID: syntaxUID))
        writer.explicitVR = !implicit   // the file meta group is always explicit (PS3.10 §7.1)
        for element in dataSet.elements where element.tag.group != 0x0002 {
            if implicit, case .encapsulated = element.value {
                throw DICOMParseError(.invalidValue, "encapsulated Pixel Data cannot be written in Implicit VR Little Endian",
                                      tag: element.tag)
            }
            try writer.write(element)
        }
        return writer.bytes
    }

    /// Encodes just a dataset (no preamble or meta) in Explicit VR Little Endian.
    public static func encodeDataSet(_ dataSet: DataSet, load: ((BulkDataReference) throws -> [UInt8])? = nil) throws -> [UInt8] {
        var writer = ByteWriter(load: load)
        for element in dataSet.elements { try writer.write(element) }
        return writer.bytes
    }

    /// Encodes elements (no preamble or meta) in Explicit or Implicit VR Little Endian: the
    /// pieces of a file written in parts (see `pixelDataHeader`).
    public static func encodeElements(_ elements: [DataElement], implicitVR: Bool,
                                      load: ((BulkDataReference) throws -> [UInt8])? = nil) throws -> [UInt8] {
        var writer = ByteWriter(load: load)
        writer.explicitVR = !implicitVR
        for element in elements { try writer.write(element) }
        return writer.bytes
    }

    /// The header of a Pixel Data element whose value is written separately, frame by frame:
    /// native (`length` bytes, even) or encapsulated (`length` nil: undefined length, then an
    /// empty Basic Offset Table item; fragments follow as `item(_:)`, then `sequenceDelimiter`).
    public static func pixelDataHeader(vr: VR, length: Int?, implicitVR: Bool) -> [UInt8] {
        var writer = ByteWriter(load: nil)
        writer.tag(.pixelData)
        if !implicitVR {
            writer.bytes.append(contentsOf: Array((length == nil ? VR.OB : vr).rawValue.utf8))
            writer.u16(0)
        }
        writer.u32(length.map { UInt32(truncatingIfNeeded: $0) } ?? 0xFFFF_FFFF)
        if length == nil {
            writer.tag(.item)
            writer.u32(0)
        }
        return writer.bytes
    }

    /// One fragment item (the value padded to even length).
    public static func item(_ value: [UInt8]) -> [UInt8] {
        var writer = ByteWriter(load: nil)
        writer.tag(.item)
        writer.u32(UInt32(truncatingIfNeeded: value.count + value.count % 2))
        writer.bytes.append(contentsOf: value)
        if value.count % 2 == 1 { writer.bytes.append(0) }
        return writer.bytes
    }

    /// Ends encapsulated Pixel Data.
    public static let sequenceDelimiter: [UInt8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]

    /// Explicit VR Little Endian, unless Pixel Data is encapsulated (then the caller must say
    /// which compressed syntax it is; without one, Encapsulated Uncompressed is not assumed).
    static func defaultTransferSyntax(for dataSet: DataSet) -> TransferSyntax {
        .explicitVRLittleEndian
    }

    static func buildMeta(for dataSet: DataSet, meta: DataSet, transferSyntaxUID: String) -> DataSet {
        var result = DataSet()
        result.set(DataElement(tag: .fileMetaInformationVersion, vr: .OB, bytes: [0x00, 0x01]))
        // Copy the UID bytes as they are: decoding and re-encoding would change any stray non-ASCII byte.
        let sopClass = dataSet[.sopClassUID]?.bytes ?? meta[.mediaStorageSOPClassUID]?.bytes ?? []
        let sopInstance = dataSet[.sopInstanceUID]?.bytes ?? meta[.mediaStorageSOPInstanceUID]?.bytes ?? []
        result.set(DataElement(tag: .mediaStorageSOPClassUID, vr: .UI, bytes: sopClass))
        result.set(DataElement(tag: .mediaStorageSOPInstanceUID, vr: .UI, bytes: sopInstance))
        result.setString(.transferSyntaxUID, vr: .UI, transferSyntaxUID)
        result.setString(.implementationClassUID, vr: .UI, implementationClassUID)
        result.setString(.implementationVersionName, vr: .SH, implementationVersionName)
        for tag in [Tag.sourceApplicationEntityTitle, .sendingApplicationEntityTitle, .receivingApplicationEntityTitle,
                    .privateInformationCreatorUID, .privateInformation] {
            if let element = meta[tag] { result.set(element) }
        }
        return result
    }
}

/// Appends little-endian encodings (explicit VR, or implicit VR for Implicit VR Little Endian
/// datasets) to a byte array.
struct ByteWriter {
    var bytes: [UInt8] = []
    let load: ((BulkDataReference) throws -> [UInt8])?
    /// False: no VR field, 32-bit lengths everywhere (PS3.5 §7.1.3).
    var explicitVR = true

    init(load: ((BulkDataReference) throws -> [UInt8])?) {
        self.load = load
        bytes.reserveCapacity(64 * 1024)
    }

    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8)) }
    mutating func u32(_ v: UInt32) { u16(UInt16(v & 0xFFFF)); u16(UInt16(v >> 16)) }
    mutating func tag(_ t: Tag) { u16(t.group); u16(t.element) }

    mutating func writeMeta(_ meta: DataSet) throws {
        var body = ByteWriter(load: load)
        for element in meta.elements where element.tag != .fileMetaInformationGroupLength {
            try body.write(element)
        }
        tag(.fileMetaInformationGroupLength)
        bytes.append(contentsOf: Array("UL".utf8))
        u16(4)
        u32(UInt32(body.bytes.count))
        bytes.append(contentsOf: body.bytes)
    }

    mutating func write(_ element: DataElement) throws {
        switch element.value {
        case .sequence(let items):
            tag(element.tag)
            if explicitVR {
                bytes.append(contentsOf: Array("SQ".utf8))
                u16(0)
            }
            u32(0xFFFF_FFFF)
            for item in items {
                tag(.item)
                u32(0xFFFF_FFFF)
                for child in item.elements { try write(child) }
                tag(.itemDelimitationItem)
                u32(0)
            }
            tag(.sequenceDelimitationItem)
            u32(0)
        case .encapsulated(let pixels):
            tag(element.tag)
            bytes.append(contentsOf: Array("OB".utf8))
            u16(0)
            u32(0xFFFF_FFFF)
            try writeItem(pixels.basicOffsetTable)
            for fragment in pixels.fragments {
                try writeItem(try resolve(fragment, tag: element.tag))
            }
            tag(.sequenceDelimitationItem)
            u32(0)
        case .bytes(let lazy):
            var value = try resolve(lazy, tag: element.tag)
            if value.count % 2 == 1 { value.append(element.vr.paddingByte) }
            var vr = element.vr
            // A value too long for a 16-bit length can only be written as UN (PS3.5 §6.2.2).
            if !vr.hasLongExplicitLength && value.count > 0xFFFF { vr = .UN }
            guard value.count < 0xFFFF_FFFF else {
                throw DICOMParseError(.invalidLength, "value too long for DICOM (\(value.count) bytes)", tag: element.tag)
            }
            tag(element.tag)
            guard explicitVR else {
                u32(UInt32(value.count))
                bytes.append(contentsOf: value)
                return
            }
            bytes.append(contentsOf: Array(vr.rawValue.utf8))
            if vr.hasLongExplicitLength {
                u16(0)
                u32(UInt32(value.count))
            } else {
                u16(UInt16(value.count))
            }
            bytes.append(contentsOf: value)
        }
    }

    private mutating func writeItem(_ value: [UInt8]) throws {
        var padded = value
        if padded.count % 2 == 1 { padded.append(0) }
        tag(.item)
        u32(UInt32(padded.count))
        bytes.append(contentsOf: padded)
    }

    private func resolve(_ lazy: LazyBytes, tag: Tag) throws -> [UInt8] {
        switch lazy {
        case .loaded(let bytes): return Array(bytes)
        case .deferred(let reference):
            guard let load else {
                throw DICOMParseError(.io, "value is still in its source file and no loader was given", tag: tag)
            }
            return try load(reference)
        }
    }
}
