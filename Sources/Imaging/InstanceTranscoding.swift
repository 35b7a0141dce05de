import DICOM

/// A stored instance re-encoded into another transfer syntax as a Part 10 stream: a header (file
/// meta, the elements before Pixel Data, the Pixel Data element header), then one piece per frame,
/// then a trailer. Each frame is read, decoded and encoded when its turn comes, so memory stays
/// bounded by a frame whatever the instance's size, and no frame is decoded twice.
///
/// The first frame is converted when the plan is made: a codec failure surfaces before anything
/// is sent, and the attributes that depend on the result (Photometric Interpretation, the lossy
/// compression ratio, approximated from that frame) are known for the header.
public struct InstanceTranscoding: Sendable {
    public let transferSyntaxUID: String
    /// Preamble, file meta, elements before Pixel Data and the Pixel Data element header.
    public let header: [UInt8]
    public let numberOfFrames: Int
    /// Sequence delimiter or padding, then any elements after Pixel Data.
    public let trailer: [UInt8]

    private let path: String
    private let index: FrameIndex?
    private let sourceSyntax: String
    private let pixels: PixelDescription
    private let decode: Bool
    private let encode: String?
    private let first: [UInt8]?

    /// Syntaxes the stream can be written in.
    public static let writable: Set<String> = Set([TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid])
        .union(Compressor.encodable)

    /// - Parameters:
    ///   - file: read from `path` with deferred values (`deferValuesLongerThan: 0`).
    ///   - path: a path that keeps naming the same file while the stream is written.
    public init(_ file: Part10File, path: String, to target: String) throws {
        guard Self.writable.contains(target) else {
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
        let elements = file.dataSet.elements
        guard file.dataSet.contains(.pixelData) else {
            // Nothing to convert: the dataset as it is, in the target's encoding.
            header = try Part10Writer.write(file.dataSet, meta: meta, transferSyntaxUID: target, load: load)
            (numberOfFrames, trailer, index, pixels, decode, encode, first) = (0, [], nil, Self.placeholder, false, nil, nil)
            return
        }
        let encode = Compressor.encodable.contains(target) ? target : nil
        let index: FrameIndex
        do {
            index = try FrameIndex(file)
        } catch let error as DICOMParseError {
            // Native to native needs no frame boundaries: the value goes across as one piece.
            guard encode == nil, let whole = FrameIndex(wholeNativeValueOf: file) else { throw error }
            index = whole
        }
        let decode = index.isEncapsulated
        if decode, !FrameDecoder.decodable.contains(source) {
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

        // The first frame now: errors before the first byte, and what the header must say.
        let converted = try Self.convert(frame: 0, index: index, path: path, sourceSyntax: source, pixels: pixels,
                                         decode: decode, encode: encode)
        first = converted.bytes
        var dataSet = DataSet()
        var after: [DataElement] = []
        for element in elements where element.tag != .pixelData {
            if element.tag > .pixelData { after.append(element) } else { dataSet.set(element) }
        }
        dataSet.characterSet = file.dataSet.characterSet
        _ = dataSet.remove(.extendedOffsetTable)
        _ = dataSet.remove(.extendedOffsetTableLengths)
        if converted.photometricInterpretation != pixels.photometricInterpretation {
            dataSet.setString(.photometricInterpretation, vr: .CS, converted.photometricInterpretation)
        }
        if pixels.samplesPerPixel > 1, decode || encode != nil {
            dataSet.set(DataElement(tag: .planarConfiguration, vr: .US, bytes: NumericValue.encode([0], size: 2)))
        }
        if let encode, Compressor.lossy.contains(encode) {
            Compressor.markLossy(&dataSet, ratio: Double(pixels.frameLength) / Double(max(1, converted.bytes.count)),
                                 method: encode == Compressor.jpegBaseline ? "ISO_10918_1" : "ISO_15444_1")
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

    /// The bytes of frame `number` (0-based) as they go into the stream: native samples, or one
    /// fragment item of the compressed frame.
    public func frame(_ number: Int) throws -> [UInt8] {
        guard let index else { return [] }
        let bytes = number == 0 && first != nil
            ? first!
            : try Self.convert(frame: number, index: index, path: path, sourceSyntax: sourceSyntax, pixels: pixels,
                               decode: decode, encode: encode).bytes
        return encode == nil ? bytes : Part10Writer.item(bytes)
    }

    private static func convert(frame number: Int, index: FrameIndex, path: String, sourceSyntax: String,
                                pixels description: PixelDescription, decode: Bool, encode: String?)
        throws -> (bytes: [UInt8], photometricInterpretation: String) {
        var bytes = try index.bytes(ofFrame: number, path: path)
        var pixels = description
        var planar = pixels.planarConfiguration == 1
        if decode {
            let decoded = try FrameDecoder.decode(bytes, transferSyntaxUID: sourceSyntax, pixels)
            guard decoded.bytes.count == pixels.frameLength else {
                throw CodecError(.unsupported, "frame \(number + 1) decodes to \(decoded.bytes.count) bytes, not \(pixels.frameLength)")
            }
            bytes = decoded.bytes
            pixels.photometricInterpretation = decoded.photometricInterpretation
            planar = false
        }
        guard let encode else { return (bytes, pixels.photometricInterpretation) }
        let input = try Compressor.encoderInput(bytes, &pixels, planar: planar)
        return try Compressor.encodeFrame(input, pixels, transferSyntaxUID: encode)
    }

    private static let placeholder = PixelDescription(rows: 1, columns: 1, samplesPerPixel: 1, bitsAllocated: 8, bitsStored: 8,
                                                      pixelRepresentation: 0, photometricInterpretation: "MONOCHROME2",
                                                      planarConfiguration: 0)
}
