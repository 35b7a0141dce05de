import DICOM
import Foundation
import Imaging

/// How one stored instance is sent.
enum InstanceEncoding: Sendable, Equatable {
    /// The stored file, byte for byte.
    case asStored
    /// Re-encoded, from an uncompressed syntax, as Explicit or Implicit VR Little Endian.
    case reencoded(String)

    static let explicitLittleEndian = InstanceEncoding.reencoded(TransferSyntax.explicitVRLittleEndian.uid)

    func transferSyntaxUID(stored: String) -> String {
        switch self {
        case .asStored: return stored
        case .reencoded(let uid): return uid
        }
    }
}

/// How frames (or encapsulated Pixel Data) are sent.
struct FrameEncoding: Sendable, Equatable {
    var multipart: Bool
    /// Content-Type of each part (or of the single-part body).
    var partType: String
    var transferSyntaxUID: String
    /// Compressed frames decoded to native samples (Imaging) before they are sent.
    var decode = false
    /// Native (or decoded) frames encoded into this transfer syntax before they are sent.
    var encode: String? = nil

    var transforms: Bool { decode || encode != nil }
}

/// Content negotiation for WADO-RS retrieve (PS3.18 §8.7.3): the Accept header's media ranges
/// are tried in order of quality; the first that every selected instance can satisfy wins.
enum RetrieveNegotiation {
    static let dicom = MediaType(type: "application", subtype: "dicom")
    static let octetStream = MediaType(type: "application", subtype: "octet-stream")

    /// Native syntaxes are re-encoded among each other without a codec (`CodecRegistry`).
    static func convertibleToExplicitLittleEndian(_ uid: String) -> Bool { CodecRegistry.isNative(uid) }

    /// The encoding of each instance for a `transfer-syntax` parameter (`nil`: the default,
    /// Explicit VR Little Endian), or nil when some instance cannot be sent in it.
    static func encodings(storedSyntaxes: [String], requested: String?) -> [InstanceEncoding]? {
        let wanted = requested ?? TransferSyntax.explicitVRLittleEndian.uid
        if wanted == "*" { return storedSyntaxes.map { _ in .asStored } }
        var result: [InstanceEncoding] = []
        for stored in storedSyntaxes {
            if stored == wanted {
                result.append(.asStored)
            } else if CodecRegistry.canEncode(wanted), CodecRegistry.canDecode(stored) {
                result.append(.reencoded(wanted))
            } else {
                return nil
            }
        }
        return result
    }

    /// `application/dicom` instances: multipart (or a single part when allowed and asked for).
    static func instances(accept: String?, storedSyntaxes: [String], singlePartAllowed: Bool)
        throws(DICOMwebError) -> (multipart: Bool, encodings: [InstanceEncoding]) {
        for entry in AcceptEntry.parse(accept) {
            let media = entry.mediaType
            let requested = media.parameters["transfer-syntax"]
            if media.essence == "multipart/related" {
                let type = media.parameters["type"].flatMap(MediaType.init) ?? dicom
                guard type.covers(dicom) else { continue }
                if let encodings = encodings(storedSyntaxes: storedSyntaxes, requested: requested) { return (true, encodings) }
            } else if media.essence == "application/dicom", singlePartAllowed {
                if let encodings = encodings(storedSyntaxes: storedSyntaxes, requested: requested) { return (false, encodings) }
            } else if media.covers(MediaType(type: "multipart", subtype: "related")) {
                // */* or multipart/*: uncompressed as the default syntax, compressed as stored.
                return (true, storedSyntaxes.map { convertibleToExplicitLittleEndian($0) && $0 != TransferSyntax.explicitVRLittleEndian.uid
                    ? .explicitLittleEndian : .asStored })
            }
        }
        let stored = Set(storedSyntaxes).sorted().joined(separator: ", ")
        let encoders = CodecRegistry.encoders
        let eightBitOnly = Set(encoders.filter { $0.encodableSamples?.bitsAllocated == [8] }.map(\.name)).sorted()
        var error = DICOMwebError(.notAcceptable,
            "cannot answer with \(accept ?? ""): the instances are stored as \(stored); available are "
            + "multipart/related; type=\"application/dicom\" with transfer-syntax=* (as stored) or, for uncompressed "
            + "instances and those MiniVNA decodes (\(Self.names(CodecRegistry.decoders))), \(TransferSyntax.explicitVRLittleEndian.uid) "
            + "(the default), \(TransferSyntax.implicitVRLittleEndian.uid), losslessly compressed as "
            + "\(encoders.filter { !$0.isLossy }.map(\.uid).sorted().joined(separator: " or ")), or lossy as "
            + "\(encoders.filter(\.isLossy).map(\.uid).sorted().joined(separator: " or "))"
            + (eightBitOnly.isEmpty ? "" : " (8-bit samples only for \(eightBitOnly.joined(separator: ", ")))"))
        error.headers[.availableMediaTypes] = "multipart/related; type=\"application/dicom\"; transfer-syntax=*"
        throw error
    }

    /// The distinct codec names, in registry order ("JPEG 2000, JPEG baseline, RLE").
    static func names(_ codecs: [Codec]) -> String {
        var seen: Set<String> = []
        return codecs.map(\.name).filter { seen.insert($0).inserted }.joined(separator: ", ")
    }

    /// Media type of compressed frames in a transfer syntax (PS3.18 Table 8.7.3-2), when it has one.
    static func frameMediaType(forTransferSyntax uid: String) -> String? {
        TransferSyntax(uid: uid)?.frameMediaType
    }

    /// The transfer syntax frames of a compressed media type are encoded in, when MiniVNA encodes
    /// it: the one named, else the registry's default for the media type.
    static func encodedSyntax(for type: MediaType, requested: String?) -> String? {
        guard type.type != "*", type.subtype != "*",
              let fallback = CodecRegistry.defaultEncoding(forMediaType: type.essence) else { return nil }
        let syntax = requested ?? fallback.uid
        guard let codec = CodecRegistry.codec(for: syntax), codec.isCompressed, codec.canEncode,
              codec.transferSyntax.frameMediaType == type.essence else { return nil }
        return syntax
    }

    /// Frames of one instance. Native frames are sent uncompressed (Explicit VR Little Endian
    /// byte order, whatever the stored order); encapsulated frames as stored, in their own media
    /// type or as application/octet-stream with their transfer syntax. A single part only for
    /// one frame.
    /// - Parameter encodable: whether frames may be compressed on request (false for bulk data
    ///   values other than encapsulated Pixel Data, which are bytes, not frames).
    static func frames(accept: String?, storedSyntax: String, encapsulated: Bool, frameCount: Int, encodable: Bool = true)
        throws(DICOMwebError) -> FrameEncoding {
        let uncompressed = TransferSyntax.explicitVRLittleEndian.uid   // native frames are sent in its byte order
        let compressedType = encapsulated ? frameMediaType(forTransferSyntax: storedSyntax) : nil
        for entry in AcceptEntry.parse(accept) {
            let media = entry.mediaType
            let requested = media.parameters["transfer-syntax"]
            if media.essence != "multipart/related", media.covers(MediaType(type: "multipart", subtype: "related")) {
                // */* or multipart/*: the frames as they are best sent.
                return FrameEncoding(multipart: true, partType: compressedType ?? "application/octet-stream",
                                     transferSyntaxUID: encapsulated ? storedSyntax : uncompressed)
            }
            let multipart = media.essence == "multipart/related"
            guard multipart || frameCount == 1 else { continue }
            let type = multipart ? (media.parameters["type"].flatMap(MediaType.init) ?? octetStream) : media
            if !encapsulated {
                if type.covers(octetStream), requested == nil || requested == "*" || requested == uncompressed {
                    return FrameEncoding(multipart: multipart, partType: "application/octet-stream", transferSyntaxUID: uncompressed)
                }
                continue
            }
            if let compressedType, let want = MediaType(compressedType), type.covers(want),
               requested == nil || requested == "*" || requested == storedSyntax {
                return FrameEncoding(multipart: multipart, partType: compressedType, transferSyntaxUID: storedSyntax)
            }
            if type.covers(octetStream), requested == "*" || requested == storedSyntax {
                return FrameEncoding(multipart: multipart, partType: "application/octet-stream", transferSyntaxUID: storedSyntax)
            }
            if CodecRegistry.canDecode(storedSyntax), type.covers(octetStream), requested == nil || requested == uncompressed {
                return FrameEncoding(multipart: multipart, partType: "application/octet-stream", transferSyntaxUID: uncompressed,
                                     decode: true)
            }
        }
        // Nothing as stored: frames compressed on request (decoded first when stored compressed).
        let decodable = encodable && (!encapsulated || CodecRegistry.canDecode(storedSyntax))
        for entry in AcceptEntry.parse(accept) where decodable {
            let media = entry.mediaType
            let multipart = media.essence == "multipart/related"
            guard multipart || frameCount == 1, let type = multipart ? media.parameters["type"].flatMap(MediaType.init) : media,
                  let target = encodedSyntax(for: type, requested: media.parameters["transfer-syntax"]),
                  target != storedSyntax || !encapsulated else { continue }
            return FrameEncoding(multipart: multipart, partType: type.essence, transferSyntaxUID: target,
                                 decode: encapsulated, encode: target)
        }
        let encodedTypes = decodable ? CodecRegistry.encodableMediaTypes.map { "multipart/related; type=\"\($0)\"" } : []
        let available = (encapsulated
            ? [compressedType.map { "multipart/related; type=\"\($0)\"" },
               "multipart/related; type=\"application/octet-stream\"; transfer-syntax=\(storedSyntax)",
               CodecRegistry.canDecode(storedSyntax)
                ? "multipart/related; type=\"application/octet-stream\"; transfer-syntax=\(uncompressed)" : nil].compactMap { $0 }
            : ["multipart/related; type=\"application/octet-stream\"; transfer-syntax=\(uncompressed)"])
            + encodedTypes.filter { type in compressedType.map { !type.contains($0) } ?? true }
        var error = DICOMwebError(.notAcceptable,
            "cannot answer with \(accept ?? ""): the frames are \(encapsulated ? "stored compressed in \(storedSyntax)" : "uncompressed")"
            + "; available: \(available.joined(separator: ", "))\(frameCount == 1 ? " (or a single part of the same type)" : "")"
            + (encapsulated && !CodecRegistry.canDecode(storedSyntax)
               ? "; decoding \(storedSyntax) is not supported" : ""))
        error.headers[.availableMediaTypes] = available.joined(separator: ", ")
        throw error
    }
}
