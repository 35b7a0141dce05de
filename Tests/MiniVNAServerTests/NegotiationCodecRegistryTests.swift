import DICOM
import Imaging
@testable import MiniVNAServer
import Testing

/// What WADO-RS negotiation offers is what the codec registry says Imaging can do, for every
/// transfer syntax MiniVNA knows: adding a codec to the registry is all it takes to offer it.
@Suite struct NegotiationCodecRegistryTests {
    static let syntaxes = TransferSyntax.all.map(\.uid)

    @Test func instancesAreOfferedInEverySyntaxTheRegistryCanProduceFromTheStoredOne() {
        for stored in Self.syntaxes {
            for wanted in Self.syntaxes {
                let offered = RetrieveNegotiation.encodings(storedSyntaxes: [stored], requested: wanted)
                let expected: InstanceEncoding? = stored == wanted ? .asStored
                    : CodecRegistry.canDecode(stored) && CodecRegistry.canEncode(wanted) ? .reencoded(wanted) : nil
                #expect(offered == expected.map { [$0] }, "stored \(stored), asked for \(wanted)")
            }
            // The default (no transfer-syntax): Explicit VR Little Endian whenever the registry reads the frames.
            let byDefault = RetrieveNegotiation.encodings(storedSyntaxes: [stored], requested: nil)
            #expect((byDefault != nil) == (stored == TransferSyntax.explicitVRLittleEndian.uid || CodecRegistry.canDecode(stored)),
                    "stored \(stored)")
        }
    }

    @Test func framesAreEncodedIntoEverySyntaxTheRegistryEncodesAndNoOther() throws {
        let native = TransferSyntax.explicitVRLittleEndian.uid
        for syntax in TransferSyntax.all {
            guard let mediaType = syntax.frameMediaType else { continue }
            let accept = "multipart/related; type=\"\(mediaType)\"; transfer-syntax=\(syntax.uid)"
            let codec = CodecRegistry.codec(for: syntax.uid)
            if let codec, codec.isCompressed, codec.canEncode {
                let encoding = try RetrieveNegotiation.frames(accept: accept, storedSyntax: native, encapsulated: false, frameCount: 1)
                #expect(encoding == FrameEncoding(multipart: true, partType: mediaType, transferSyntaxUID: syntax.uid,
                                                  encode: syntax.uid), "\(syntax.name)")
            } else {
                #expect(throws: DICOMwebError.self, "\(syntax.name) is offered without an encoder") {
                    try RetrieveNegotiation.frames(accept: accept, storedSyntax: native, encapsulated: false, frameCount: 1)
                }
            }
        }
        // A media type alone: the registry's default syntax for it.
        for mediaType in CodecRegistry.encodableMediaTypes {
            let encoding = try RetrieveNegotiation.frames(accept: "multipart/related; type=\"\(mediaType)\"", storedSyntax: native,
                                                          encapsulated: false, frameCount: 1)
            #expect(encoding.transferSyntaxUID == CodecRegistry.defaultEncoding(forMediaType: mediaType)?.uid)
        }
    }

    @Test func compressedFramesAreDecodedExactlyWhenTheRegistryDecodesThem() {
        for syntax in TransferSyntax.all where syntax.isEncapsulated {
            let encoding = try? RetrieveNegotiation.frames(accept: "multipart/related; type=application/octet-stream",
                                                           storedSyntax: syntax.uid, encapsulated: true, frameCount: 1)
            #expect((encoding?.decode == true) == CodecRegistry.canDecode(syntax.uid), "\(syntax.name)")
            // As stored, in the syntax's own media type, whatever the registry says.
            if let mediaType = syntax.frameMediaType {
                let asStored = try? RetrieveNegotiation.frames(accept: "multipart/related; type=\"\(mediaType)\"",
                                                               storedSyntax: syntax.uid, encapsulated: true, frameCount: 1)
                #expect(asStored == FrameEncoding(multipart: true, partType: mediaType, transferSyntaxUID: syntax.uid), "\(syntax.name)")
            }
        }
    }
}
