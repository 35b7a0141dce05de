import DICOM

/// A stored instance re-encoded into another transfer syntax as a Part 10 stream: a header (file
/// meta, the elements before Pixel Data, the Pixel Data element header), then each frame's
/// chunks, then a trailer. Frames that need a codec are read, decoded and encoded when their
/// turn comes (never twice); frames that only change byte order or framing are copied from the
/// file in chunks of at most 1 MiB. Memory stays bounded by a frame whatever the instance's size.
///
/// When a codec is involved, the first frame is converted when the plan is made: a codec failure
/// surfaces before anything is sent, and the attributes that depend on the result (Photometric
/// Interpretation, the lossy compression ratio, approximated from that frame) are known for the
/// header.
public struct InstanceTranscoding: Sendable {
    /// A piece of the stream: bytes already made, or a byte range of the source file (read, and
    /// swapped to little endian if the file is big endian, when it is written).
    public enum Chunk: Sendable {
        case bytes([UInt8])
        case file(BulkDataReference)
    }

    public let transferSyntaxUID: String
    /// Preamble, file meta, elements before Pixel Data and the Pixel Data element header.
    public let header: [UInt8]
    public let numberOfFrames: Int
    /// Sequence delimiter or padding, then any elements after Pixel Data.
    public let trailer: [UInt8]
    /// The source file's path (a path that keeps naming the same file while the stream is written).
    public let path: String

    private let index: FrameIndex?
    private let sourceSyntax: String
    private let pixels: PixelDescription
    private let decode: Bool
    private let encode: String?
    private let first: [UInt8]?

    /// Largest file range read at once for frames copied without a codec.
    static let copyChunkSize = 1 << 20

    /// - Parameters:
    ///   - file: read from `path` with deferred values (`deferValuesLongerThan: 0`).
    ///   - path: a path that keeps naming the same file while the stream is written.
    public init(_ file: Part10File, path: String, to target: String) throws {
        guard let targetCodec = CodecRegistry.codec(for: target), targetCodec.canEncode else {
            throw CodecError(.unsupported, "writing \(TransferSyntax(uid: target)?.name ?? target) is not supported")
        }
        let source = file.transferSyntaxUID
        transferSyntaxUID = target
        self.path = path
        sourceSyntax = source
        let implicit = target == TransferSyntax.implicitVRLittleEndian.uid
        let load: (BulkDataReference) throws -> [UInt8] = { try BulkDataReader.read($0, from: path) }
        var meta = file.fileMetaInformation
        _ = meta.remove(.transferSyntaxUID)
        let encode = targetCodec.isCompressed ? target : nil
        // Encapsulated values nested in other elements (an Icon Image Sequence of a compressed
        // file) cannot be written in a native syntax: such elements are left out.
        let keep: (DataElement) -> Bool = { element in
            encode != nil || element.tag == .pixelData || !Self.containsEncapsulatedValue(element)
        }
        guard file.dataSet.contains(.pixelData) else {
            // Nothing to convert: the dataset as it is, in the target's encoding.
            var dataSet = DataSet()
            dataSet.characterSet = file.dataSet.characterSet
            for element in file.dataSet.elements where keep(element) { dataSet.set(element) }
            header = try Part10Writer.write(dataSet, meta: meta, transferSyntaxUID: target, load: load)
            (numberOfFrames, trailer, index, pixels, decode, self.encode, first) = (0, [], nil, Self.placeholder, false, nil, nil)
            return
        }
        let index: FrameIndex
        do {
            index = try FrameIndex(file)
        } catch let error as DICOMParseError {
            // Native to native needs no frame boundaries: the value goes across as one piece.
            guard encode == nil, let whole = FrameIndex(wholeNativeValueOf: file) else { throw error }
            index = whole
        }
        let decode = index.isEncapsulated
        let sourceCodec = CodecRegistry.codec(for: source)
        if decode, sourceCodec?.isCompressed != true || sourceCodec?.canDecode != true {
            throw CodecError(.unsupported, "decoding \(TransferSyntax(uid: source)?.name ?? source) is not supported")
        }
        // Codecs need the Image Pixel description; native frames passed through only need Bits
        // Allocated (for the VR), so 1- or 32-bit native data can still change its encoding.
        let pixels: PixelDescription
        if decode || encode != nil {
            pixels = try PixelDescription(file.dataSet)
        } else {
            let bits = file.dataSet.int(.bitsAllocated) ?? 8
            pixels = PixelDescription(rows: 1, columns: 1, samplesPerPixel: 1, bitsAllocated: bits, bitsStored: bits,
                                      pixelRepresentation: 0, photometricInterpretation: file.dataSet.string(.photometricInterpretation) ?? "",
                                      planarConfiguration: file.dataSet.int(.planarConfiguration) ?? 0)
        }
        self.index = index
        self.pixels = pixels
        self.decode = decode
        self.encode = encode
        numberOfFrames = index.numberOfFrames

        // With a codec, the first frame now: errors before the first byte, and what the header must say.
        let converted = decode || encode != nil
            ? try Self.convert(frame: 0, index: index, path: path, sourceSyntax: source, pixels: pixels, decode: decode, encode: encode)
            : nil
        first = converted?.bytes
        var dataSet = DataSet()
        var after: [DataElement] = []
        for element in file.dataSet.elements where element.tag != .pixelData && keep(element) {
            if element.tag > .pixelData { after.append(element) } else { dataSet.set(element) }
        }
        dataSet.characterSet = file.dataSet.characterSet
        _ = dataSet.remove(.extendedOffsetTable)
        _ = dataSet.remove(.extendedOffsetTableLengths)
        if let converted, converted.photometricInterpretation != pixels.photometricInterpretation {
            dataSet.setString(.photometricInterpretation, vr: .CS, converted.photometricInterpretation)
        }
        if pixels.samplesPerPixel > 1, converted != nil {
            dataSet.set(DataElement(tag: .planarConfiguration, vr: .US, bytes: NumericValue.encode([0], size: 2)))
        }
        // JPEG baseline is lossy whatever the file says (PS3.3 C.7.6.1.1.5).
        if decode, sourceCodec?.decodingIsAlwaysLossy == true, dataSet.string(.lossyImageCompression) != "01" {
            dataSet.setString(.lossyImageCompression, vr: .CS, "01")
        }
        if encode != nil, let converted, let method = targetCodec.lossyCompressionMethod {
            Compressor.markLossy(&dataSet, ratio: Double(pixels.frameLength) / Double(max(1, converted.bytes.count)), method: method)
        }
        var head = try Part10Writer.write(dataSet, meta: meta, transferSyntaxUID: target, load: load)
        var tail: [UInt8] = []
        if encode != nil {
            head += Part10Writer.pixelDataHeader(vr: .OB, length: nil, implicitVR: false)
            tail = Part10Writer.sequenceDelimiter
        } else {
            let frameLength = decode ? pixels.frameLength : index.frames.first.map { $0.reduce(0) { $0 + $1.count } } ?? 0
            let total = frameLength * index.numberOfFrames
            guard total < 0xFFFF_FFFF else {
                throw CodecError(.unsupported, "the native Pixel Data would be \(total) bytes: more than one element can hold")
            }
            let vr: VR = pixels.bitsAllocated > 8 ? .OW : .OB
            head += Part10Writer.pixelDataHeader(vr: vr, length: total + total % 2, implicitVR: implicit)
            if total % 2 == 1 { tail = [0] }
        }
        header = head
        trailer = tail + (after.isEmpty ? [] : try Part10Writer.encodeElements(after, implicitVR: implicit, load: load))
    }

    /// Frame `number` (0-based) as it goes into the stream: native samples, or one fragment item
    /// of the compressed frame; frames without a codec as file ranges of at most 1 MiB.
    public func chunks(ofFrame number: Int) throws -> [Chunk] {
        guard let index else { return [] }
        guard decode || encode != nil else {
            return index.frames[number].flatMap { piece -> [Chunk] in
                switch piece {
                case .memory(let bytes): return [.bytes(Array(bytes))]
                case .file(let reference):
                    // Chunks stay multiples of the byte-swap unit (1 MiB is a multiple of 2, 4 and 8).
                    return stride(from: 0, to: reference.length, by: Self.copyChunkSize).map { start in
                        .file(BulkDataReference(offset: reference.offset + start,
                                                length: min(Self.copyChunkSize, reference.length - start),
                                                swapUnit: reference.swapUnit))
                    }
                }
            }
        }
        let bytes = number == 0 && first != nil
            ? first!
            : try Self.convert(frame: number, index: index, path: path, sourceSyntax: sourceSyntax, pixels: pixels,
                               decode: decode, encode: encode).bytes
        return [.bytes(encode == nil ? bytes : Part10Writer.item(bytes))]
    }

    /// The bytes of a chunk (file ranges read now).
    public func bytes(of chunk: Chunk) throws -> [UInt8] {
        switch chunk {
        case .bytes(let bytes): return bytes
        case .file(let reference): return try BulkDataReader.read(reference, from: path)
        }
    }

    /// The whole stream through `write`, piece by piece (header, frames, trailer).
    public func write(to write: ([UInt8]) throws -> Void) throws {
        try write(header)
        for frame in 0..<numberOfFrames {
            for chunk in try chunks(ofFrame: frame) { try write(try bytes(of: chunk)) }
        }
        try write(trailer)
    }

    private static func convert(frame number: Int, index: FrameIndex, path: String, sourceSyntax: String,
                                pixels: PixelDescription, decode: Bool, encode: String?)
        throws -> (bytes: [UInt8], photometricInterpretation: String) {
        try FrameConversion.convert(try index.bytes(ofFrame: number, path: path), pixels: pixels, sourceSyntax: sourceSyntax,
                                    decode: decode, encode: encode)
    }

    /// Whether an element holds encapsulated data anywhere inside it.
    static func containsEncapsulatedValue(_ element: DataElement) -> Bool {
        switch element.value {
        case .encapsulated: return true
        case .sequence(let items): return items.contains { $0.elements.contains(where: containsEncapsulatedValue) }
        case .bytes: return false
        }
    }

    private static let placeholder = PixelDescription(rows: 1, columns: 1, samplesPerPixel: 1, bitsAllocated: 8, bitsStored: 8,
                                                      pixelRepresentation: 0, photometricInterpretation: "MONOCHROME2",
                                                      planarConfiguration: 0)
}
