/// A transfer syntax and the properties a parser and writer need (PS3.5 §10, Annex A).
/// One table for all of them, as DCMTK's `dcxfer.cc` does.
public struct TransferSyntax: Hashable, Sendable, CustomStringConvertible {
    public let uid: String
    public let name: String
    public let isExplicitVR: Bool
    public let isBigEndian: Bool
    /// Pixel Data is a sequence of fragments (PS3.5 §A.4).
    public let isEncapsulated: Bool
    /// The dataset after the file meta group is zlib-deflated (PS3.5 §A.5).
    public let isDeflated: Bool
    public let isLossy: Bool
    public let isRetired: Bool
    /// The media type of its frames in WADO-RS (PS3.18 Table 8.7.3-2: image/jpeg, image/jls,
    /// image/jp2, image/jpx, image/jphc, image/jxl, image/dicom-rle). Nil for native syntaxes,
    /// whose frames are application/octet-stream, and for the video syntaxes, whose frames
    /// MiniVNA sends as application/octet-stream too.
    public let frameMediaType: String?

    public var description: String { "\(name) (\(uid))" }

    init(_ uid: String, _ name: String, explicit: Bool = true, bigEndian: Bool = false,
         encapsulated: Bool = true, deflated: Bool = false, lossy: Bool = false, retired: Bool = false,
         frameMediaType: String? = nil) {
        self.uid = uid
        self.name = name
        self.isExplicitVR = explicit
        self.isBigEndian = bigEndian
        self.isEncapsulated = encapsulated
        self.isDeflated = deflated
        self.isLossy = lossy
        self.isRetired = retired
        self.frameMediaType = frameMediaType
    }

    public static let implicitVRLittleEndian = TransferSyntax(
        "1.2.840.10008.1.2", "Implicit VR Little Endian", explicit: false, encapsulated: false)
    public static let explicitVRLittleEndian = TransferSyntax(
        "1.2.840.10008.1.2.1", "Explicit VR Little Endian", encapsulated: false)
    public static let encapsulatedUncompressedExplicitVRLittleEndian = TransferSyntax(
        "1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian")
    public static let deflatedExplicitVRLittleEndian = TransferSyntax(
        "1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", encapsulated: false, deflated: true)
    public static let explicitVRBigEndian = TransferSyntax(
        "1.2.840.10008.1.2.2", "Explicit VR Big Endian", bigEndian: true, encapsulated: false, retired: true)
    public static let jpegBaseline = TransferSyntax(
        "1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", lossy: true, frameMediaType: "image/jpeg")
    public static let jpegExtended = TransferSyntax(
        "1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", lossy: true, frameMediaType: "image/jpeg")
    public static let jpegLosslessP14 = TransferSyntax(
        "1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", frameMediaType: "image/jpeg")
    public static let jpegLosslessSV1 = TransferSyntax(
        "1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
        frameMediaType: "image/jpeg")
    public static let jpegLSLossless = TransferSyntax(
        "1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression", frameMediaType: "image/jls")
    public static let jpegLSNearLossless = TransferSyntax(
        "1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless) Image Compression", lossy: true, frameMediaType: "image/jls")
    public static let jpeg2000Lossless = TransferSyntax(
        "1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", frameMediaType: "image/jp2")
    public static let jpeg2000 = TransferSyntax(
        "1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", lossy: true, frameMediaType: "image/jp2")
    public static let jpeg2000Part2MultiComponentLossless = TransferSyntax(
        "1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
        frameMediaType: "image/jpx")
    public static let jpeg2000Part2MultiComponent = TransferSyntax(
        "1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", lossy: true,
        frameMediaType: "image/jpx")
    public static let htj2kLossless = TransferSyntax(
        "1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", frameMediaType: "image/jphc")
    public static let htj2kLosslessRPCL = TransferSyntax(
        "1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
        frameMediaType: "image/jphc")
    public static let htj2k = TransferSyntax(
        "1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", lossy: true, frameMediaType: "image/jphc")
    public static let jpipReferenced = TransferSyntax(
        "1.2.840.10008.1.2.4.94", "JPIP Referenced", encapsulated: false)
    public static let jpipReferencedDeflate = TransferSyntax(
        "1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", encapsulated: false, deflated: true)
    public static let mpeg2MainProfile = TransferSyntax(
        "1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", lossy: true)
    public static let mpeg2MainProfileHighLevel = TransferSyntax(
        "1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", lossy: true)
    public static let mpeg4AVCH264HighProfile = TransferSyntax(
        "1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", lossy: true)
    public static let mpeg4AVCH264BDCompatible = TransferSyntax(
        "1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", lossy: true)
    public static let mpeg4AVCH264HighProfile42For2DVideo = TransferSyntax(
        "1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", lossy: true)
    public static let mpeg4AVCH264HighProfile42For3DVideo = TransferSyntax(
        "1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", lossy: true)
    public static let mpeg4AVCH264StereoHighProfile = TransferSyntax(
        "1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", lossy: true)
    public static let hevcMainProfile = TransferSyntax(
        "1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", lossy: true)
    public static let hevcMain10Profile = TransferSyntax(
        "1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", lossy: true)
    public static let jpegXLLossless = TransferSyntax(
        "1.2.840.10008.1.2.4.110", "JPEG XL Lossless", frameMediaType: "image/jxl")
    /// A lossless recompression of a JPEG baseline stream: the pixels are the lossy JPEG's.
    public static let jpegXLJPEGRecompression = TransferSyntax(
        "1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", lossy: true, frameMediaType: "image/jxl")
    public static let jpegXL = TransferSyntax(
        "1.2.840.10008.1.2.4.112", "JPEG XL", lossy: true, frameMediaType: "image/jxl")
    public static let rleLossless = TransferSyntax(
        "1.2.840.10008.1.2.5", "RLE Lossless", frameMediaType: "image/dicom-rle")

    /// Every transfer syntax MiniVNA can parse (the dataset encoding; pixel codecs are Imaging's).
    public static let all: [TransferSyntax] = [
        .implicitVRLittleEndian, .explicitVRLittleEndian, .encapsulatedUncompressedExplicitVRLittleEndian,
        .deflatedExplicitVRLittleEndian, .explicitVRBigEndian, .jpegBaseline, .jpegExtended,
        .jpegLosslessP14, .jpegLosslessSV1, .jpegLSLossless, .jpegLSNearLossless, .jpeg2000Lossless,
        .jpeg2000, .jpeg2000Part2MultiComponentLossless, .jpeg2000Part2MultiComponent, .htj2kLossless,
        .htj2kLosslessRPCL, .htj2k, .jpipReferenced, .jpipReferencedDeflate, .mpeg2MainProfile,
        .mpeg2MainProfileHighLevel, .mpeg4AVCH264HighProfile, .mpeg4AVCH264BDCompatible,
        .mpeg4AVCH264HighProfile42For2DVideo, .mpeg4AVCH264HighProfile42For3DVideo,
        .mpeg4AVCH264StereoHighProfile, .hevcMainProfile, .hevcMain10Profile, .jpegXLLossless,
        .jpegXLJPEGRecompression, .jpegXL, .rleLossless,
    ]

    private static let byUID: [String: TransferSyntax] = Dictionary(uniqueKeysWithValues: all.map { ($0.uid, $0) })

    /// The known transfer syntax for a UID (trailing NUL/space padding ignored), or nil.
    public init?(uid: String) {
        let trimmed = uid.trimmingDICOMPadding()
        guard let known = Self.byUID[trimmed] else { return nil }
        self = known
    }
}
