import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import MiniVNAServer
import NIOCore
import Testing

/// A Deflated Explicit VR Little Endian instance (1.2.840.10008.1.2.1.99) through the router:
/// every read of its stored file must inflate it (the archive's read options), so it renders,
/// serves its frames and answers includefield attributes the index does not keep.
@Suite struct DeflatedInstanceRouteTests {
    /// `Fixtures/deflated/deflated.dcm` (see Fixtures/README.md): CT slice 3 of the fixture
    /// series, 64x64 16-bit MONOCHROME2, Slice Thickness 2.5, Manufacturer "MiniVNA Fixtures".
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/deflated/deflated.dcm")

    struct Stored {
        let server: TestServer
        let study: String, series: String, instance: String
    }

    /// The fixture stored through STOW-RS.
    static func stored() async throws -> Stored {
        let bytes = try [UInt8](Data(contentsOf: fixture))
        let server = try TestServer()
        let file = try Part10Reader.read(bytes: bytes, options: server.archive.readOptions(.header))
        #expect(file.transferSyntaxUID == TransferSyntax.deflatedExplicitVRLittleEndian.uid, "the fixture is not deflated")
        let study = try #require(file.dataSet.string(.studyInstanceUID))
        let series = try #require(file.dataSet.string(.seriesInstanceUID))
        let instance = try #require(file.dataSet.string(.sopInstanceUID))
        try await server.app.test(.router) { client in
            try await client.execute(uri: "/dicom-web/studies", method: .post, headers: [.contentType: TestServer.stowType],
                                     body: TestServer.multipart([bytes])) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
            }
        }
        return Stored(server: server, study: study, series: series, instance: instance)
    }

    @Test func rendersADeflatedInstance() async throws {
        let stored = try await Self.stored()
        let path = "/dicom-web/studies/\(stored.study)/series/\(stored.series)/instances/\(stored.instance)"
        try await stored.server.app.test(.router) { client in
            for resource in ["rendered", "thumbnail", "frames/1/rendered"] {
                try await client.execute(uri: "\(path)/\(resource)", method: .get, headers: [.accept: "image/jpeg"]) { response in
                    #expect(response.status == .ok, "\(resource): \(String(buffer: response.body))")
                    #expect(response.headers[.contentType] == "image/jpeg")
                    #expect(Array(response.body.readableBytesView.prefix(2)) == [0xFF, 0xD8], "\(resource) is not a JPEG stream")
                }
            }
            try await client.execute(uri: "/dicom-web/studies/\(stored.study)/thumbnail", method: .get,
                                     headers: [.accept: "image/png"]) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "image/png")
            }
        }
    }

    @Test func servesTheFramesOfADeflatedInstance() async throws {
        let stored = try await Self.stored()
        let path = "/dicom-web/studies/\(stored.study)/series/\(stored.series)/instances/\(stored.instance)/frames/1"
        try await stored.server.app.test(.router) { client in
            try await client.execute(uri: path, method: .get,
                                     headers: [.accept: "application/octet-stream; transfer-syntax=*"]) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 64 * 64 * 2)
            }
            // Encoded on request: the inflated frame goes through the codec registry too.
            try await client.execute(uri: path, method: .get, headers: [.accept: "multipart/related; type=\"image/jp2\""]) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.contains("transfer-syntax=\(TransferSyntax.jpeg2000Lossless.uid)") == true)
            }
        }
    }

    @Test(arguments: [("00180050", "2.5"), ("00080070", "MiniVNA Fixtures")])
    func answersIncludefieldAttributesTheIndexDoesNotKeep(_ attribute: (tag: String, value: String)) async throws {
        let stored = try await Self.stored()
        let uri = "/dicom-web/instances?SOPInstanceUID=\(stored.instance)&includefield=\(attribute.tag)"
        try await stored.server.app.test(.router) { client in
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .ok)
                let results = try #require(try TestServer.json(response.body) as? [[String: Any]])
                #expect(results.count == 1)
                let element = try #require(results.first?[attribute.tag] as? [String: Any], "\(attribute.tag) missing")
                let values = try #require(element["Value"] as? [Any])
                let text = values.first.map { "\($0)" }
                #expect(text == attribute.value || Double(text ?? "") == Double(attribute.value))
            }
        }
    }
}
