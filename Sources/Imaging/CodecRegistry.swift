import DICOM

/// What MiniVNA can do with the pixel data of one transfer syntax: whether its frames can be had
/// as native samples, whether native samples can be put into it, with what loss, and for which
/// bit depths and photometric interpretations. Frame decoding, compression, instance
/// transcoding, the storage policy and the server's retrieve negotiation all ask this, so a new
/// codec is one entry in `CodecRegistry.all`.
public struct Codec: Sendable {
    /// Decodes one compressed frame into native little-endian samples, interleaved.
    public typealias Decoder = @Sendable (_ frame: [UInt8], _ pixels: PixelDescription) throws -> DecodedFrame
    /// Encodes one native frame (interleaved, in `pixels.photometricInterpretation`); returns the
    /// Photometric Interpretation the encoded frame has.
    public typealias Encoder = @Sendable (_ frame: [UInt8], _ pixels: PixelDescription) throws
        -> (bytes: [UInt8], photometricInterpretation: String)

    /// The Photometric Interpretations a codec takes.
    public enum Photometrics: Sendable, Hashable {
        case any
        case only(Set<String>)
        case allBut(Set<String>)

        public func contains(_ photometric: String) -> Bool {
            switch self {
            case .any: return true
            case .only(let set): return set.contains(photometric)
            case .allBut(let set): return !set.contains(photometric)
            }
        }

        var description: String {
            switch self {
            case .any: return "any"
            case .only(let set): return set.sorted().joined(separator: ", ")
            case .allBut(let set): return "any but \(set.sorted().joined(separator: ", "))"
            }
        }
    }

    /// The samples a codec takes: Bits Allocated, at most `maximumBitsStored` bits, signed or not.
    public struct Samples: Sendable, Hashable {
        public var bitsAllocated: Set<Int>
        public var maximumBitsStored: Int
        public var signed: Bool

        public static let eightOrSixteenBits = Samples(bitsAllocated: [8, 16], maximumBitsStored: 16, signed: true)
        public static let unsignedEightBits = Samples(bitsAllocated: [8], maximumBitsStored: 8, signed: false)

        public func contains(_ pixels: PixelDescription) -> Bool {
            bitsAllocated.contains(pixels.bitsAllocated) && pixels.bitsStored <= maximumBitsStored
                && (signed || pixels.pixelRepresentation == 0)
        }

        var description: String {
            let bits = bitsAllocated.sorted().map { "\($0)" }.joined(separator: " or ")
            return "\(signed ? "" : "unsigned ")\(bits)-bit"
        }
    }

    public let transferSyntax: TransferSyntax
    /// The codec's name in messages ("JPEG 2000").
    public let name: String
    /// Native Pixel Data: frames are samples as stored, read without a codec.
    public let isNative: Bool
    /// A native syntax MiniVNA writes when it re-encodes an instance (Explicit and Implicit VR
    /// Little Endian; Big Endian is retired and Deflated is not produced).
    private let isWritable: Bool
    let decoder: Decoder?
    let encoder: Encoder?
    /// Bits Allocated values `decode` takes (compressed syntaxes; the decoder checks the rest).
    public let decodableBitsAllocated: Set<Int>
    /// Samples `encode` takes.
    public let encodableSamples: Samples?
    /// Photometric Interpretations `encode` takes (after `Compressor.encoderInput`).
    public let encodablePhotometrics: Photometrics
    /// PS3.3 C.7.6.1.1.5.1 Lossy Image Compression Method of MiniVNA's encoder (ISO_10918_1,
    /// ISO_15444_1); nil when encoding keeps every sample value.
    public let lossyCompressionMethod: String?
    /// Every stream of this syntax is lossy (JPEG baseline), so a decoded instance is marked
    /// Lossy Image Compression 01 whatever its file says.
    public let decodingIsAlwaysLossy: Bool

    public var uid: String { transferSyntax.uid }
    public var isCompressed: Bool { !isNative }
    /// Frames can be had as native samples: native syntaxes always, compressed ones through a decoder.
    public var canDecode: Bool { isNative || decoder != nil }
    /// Native samples can be sent or stored in this syntax: written (native) or encoded (compressed).
    public var canEncode: Bool { isWritable || encoder != nil }
    /// MiniVNA's encoder loses information: used only when a client names the syntax or its media type.
    public var isLossy: Bool { lossyCompressionMethod != nil }

    /// A native syntax.
    init(native syntax: TransferSyntax, writable: Bool) {
        transferSyntax = syntax
        name = syntax.name
        isNative = true
        isWritable = writable
        decoder = nil
        encoder = nil
        decodableBitsAllocated = []
        encodableSamples = nil
        encodablePhotometrics = .any
        lossyCompressionMethod = nil
        decodingIsAlwaysLossy = false
    }

    /// A compressed syntax and the codec code for it.
    init(compressed syntax: TransferSyntax, name: String, decoder: Decoder?, decodableBitsAllocated: Set<Int>,
         encoder: Encoder?, encodableSamples: Samples?, encodablePhotometrics: Photometrics = .any,
         lossyCompressionMethod: String? = nil, decodingIsAlwaysLossy: Bool = false) {
        transferSyntax = syntax
        self.name = name
        isNative = false
        isWritable = false
        self.decoder = decoder
        self.encoder = encoder
        self.decodableBitsAllocated = decodableBitsAllocated
        self.encodableSamples = encodableSamples
        self.encodablePhotometrics = encodablePhotometrics
        self.lossyCompressionMethod = lossyCompressionMethod
        self.decodingIsAlwaysLossy = decodingIsAlwaysLossy
    }

    /// One compressed frame decoded to native samples.
    public func decode(_ frame: [UInt8], _ pixels: PixelDescription) throws -> DecodedFrame {
        guard let decoder else { throw CodecError(.unsupported, "decoding \(transferSyntax.name) is not supported") }
        guard decodableBitsAllocated.contains(pixels.bitsAllocated) else {
            let bits = decodableBitsAllocated.sorted().map { "\($0)" }.joined(separator: " or ")
            throw CodecError(.unsupported, "\(pixels.bitsAllocated)-bit \(name) frames cannot be decoded (\(bits)-bit only)")
        }
        return try decoder(frame, pixels)
    }

    /// One native frame (interleaved) encoded, with the Photometric Interpretation it has then.
    public func encode(_ frame: [UInt8], _ pixels: PixelDescription) throws -> (bytes: [UInt8], photometricInterpretation: String) {
        guard let encoder else { throw CodecError(.unsupported, "encoding \(transferSyntax.name) is not supported") }
        if let encodableSamples, !encodableSamples.contains(pixels) {
            throw CodecError(.unsupported, "\(name) holds \(encodableSamples.description) samples; these are "
                + "\(pixels.bitsStored)-bit\(pixels.pixelRepresentation == 1 ? " signed" : "")")
        }
        guard encodablePhotometrics.contains(pixels.photometricInterpretation) else {
            throw CodecError(.unsupported, "\(pixels.photometricInterpretation) cannot be encoded as \(transferSyntax.name) "
                + "(Photometric Interpretation \(encodablePhotometrics.description))")
        }
        return try encoder(frame, pixels)
    }
}

/// The codecs, keyed by transfer syntax UID (DCMTK registers its codecs in one list the same
/// way, `dccodec.h`). Syntaxes not listed have no pixel support: their instances are stored,
/// found and sent as stored only.
public enum CodecRegistry {
    /// In order of preference where several encode one media type (the first lossless one is
    /// the default, see `defaultEncoding(forMediaType:)`).
    public static let all: [Codec] = [
        Codec(native: .explicitVRLittleEndian, writable: true),
        Codec(native: .implicitVRLittleEndian, writable: true),
        Codec(native: .deflatedExplicitVRLittleEndian, writable: false),
        Codec(native: .explicitVRBigEndian, writable: false),
        Codec(compressed: .jpeg2000Lossless, name: "JPEG 2000",
              decoder: { try JPEG2000Decoder.decode($0, $1) }, decodableBitsAllocated: [8, 16],
              encoder: { frame, pixels in
                  // RGB goes through the reversible colour transform (PS3.5 §8.2.4).
                  (try JPEG2000Encoder.encodeLossless(frame, pixels), isRGB(pixels) ? "YBR_RCT" : pixels.photometricInterpretation)
              }, encodableSamples: .eightOrSixteenBits),
        Codec(compressed: .jpeg2000, name: "JPEG 2000",
              decoder: { try JPEG2000Decoder.decode($0, $1) }, decodableBitsAllocated: [8, 16],
              encoder: { frame, pixels in
                  (try JPEG2000Encoder.encodeLossy(frame, pixels), isRGB(pixels) ? "YBR_ICT" : pixels.photometricInterpretation)
              }, encodableSamples: .eightOrSixteenBits,
              // Palette indices are not intensities: a lossy codec would change colours (PS3.5 §8.2.4).
              encodablePhotometrics: .allBut(["PALETTE COLOR"]), lossyCompressionMethod: "ISO_15444_1"),
        Codec(compressed: .jpegBaseline, name: "JPEG baseline",
              decoder: { try JPEGDecoder.decode($0, $1) }, decodableBitsAllocated: [8],
              encoder: { try JPEGEncoder.encodeFrame($0, $1) }, encodableSamples: .unsignedEightBits,
              encodablePhotometrics: .only(["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL"]),
              lossyCompressionMethod: "ISO_10918_1", decodingIsAlwaysLossy: true),
        Codec(compressed: .rleLossless, name: "RLE",
              decoder: { try RLEDecoder.decode($0, $1) }, decodableBitsAllocated: [8, 16],
              encoder: { (try RLEEncoder.encode($0, $1), $1.photometricInterpretation) }, encodableSamples: .eightOrSixteenBits),
    ]

    private static let byUID: [String: Codec] = Dictionary(uniqueKeysWithValues: all.map { ($0.uid, $0) })

    /// The codec of a transfer syntax UID (trailing padding ignored), or nil when MiniVNA has none.
    public static func codec(for uid: String) -> Codec? {
        byUID[uid] ?? byUID[uid.trimmingDICOMPadding()]
    }

    /// Frames stored in `uid` can be had as native samples.
    public static func canDecode(_ uid: String) -> Bool { codec(for: uid)?.canDecode ?? false }

    /// Instances or frames can be produced in `uid`.
    public static func canEncode(_ uid: String) -> Bool { codec(for: uid)?.canEncode ?? false }

    /// `uid` holds native Pixel Data (re-encoded among the native syntaxes without a codec).
    public static func isNative(_ uid: String) -> Bool { codec(for: uid)?.isNative ?? false }

    /// Compressed syntaxes MiniVNA encodes into.
    public static var encoders: [Codec] { all.filter { $0.isCompressed && $0.canEncode } }

    /// Compressed syntaxes MiniVNA decodes.
    public static var decoders: [Codec] { all.filter { $0.isCompressed && $0.canDecode } }

    /// The syntax frames of `mediaType` (image/jp2, image/jpeg, ...) are encoded in when the
    /// client names none: the first lossless encoder of that media type, else the first lossy one.
    public static func defaultEncoding(forMediaType mediaType: String) -> Codec? {
        let candidates = encoders.filter { $0.transferSyntax.frameMediaType == mediaType }
        return candidates.first { !$0.isLossy } ?? candidates.first
    }

    /// The media types frames can be encoded into, in registry order, each once.
    public static var encodableMediaTypes: [String] {
        var seen: Set<String> = []
        return encoders.compactMap(\.transferSyntax.frameMediaType).filter { seen.insert($0).inserted }
    }

    private static func isRGB(_ pixels: PixelDescription) -> Bool {
        pixels.samplesPerPixel == 3 && pixels.photometricInterpretation == "RGB"
    }
}
