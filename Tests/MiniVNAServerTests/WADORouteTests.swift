import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import MiniVNAServer
import NIOCore
import Testing
import TestSupport

/// An instance with native pixel data: `frames` frames of 2x2 8-bit pixels, frame n filled with n.
private func multiFrameInstance(sop: String, frames: Int) throws -> [UInt8] {
    var ds = DataSet(characterSet: .utf8)
    ds.setString(.sopClassUID, vr: .UI, "1.2.840.10008.5.1.4.1.1.7.2")
    ds.setString(.sopInstanceUID, vr: .UI, sop)
    ds.setString(.studyInstanceUID, vr: .UI, "2.25.100")
    ds.setString(.seriesInstanceUID, vr: .UI, "2.25.200")
    ds.set(DataElement(tag: .rows, vr: .US, bytes: NumericValue.encode([2], size: 2)))
    ds.set(DataElement(tag: .columns, vr: .US, bytes: NumericValue.encode([2], size: 2)))
    ds.set(DataElement(tag: .samplesPerPixel, vr: .US, bytes: NumericValue.encode([1], size: 2)))
    ds.set(DataElement(tag: .bitsAllocated, vr: .US, bytes: NumericValue.encode([8], size: 2)))
    ds.setString(.numberOfFrames, vr: .IS, String(frames))
    ds.set(DataElement(tag: .pixelData, vr: .OB, bytes: (1...frames).flatMap { [UInt8](repeating: UInt8(truncatingIfNeeded: $0), count: 4) }))
    return try Part10Writer.write(ds)
}

@Suite struct WADORouteTests {
    private func stored(_ parts: [[UInt8]]) async throws -> TestServer {
        let server = try TestServer()
        for part in parts { _ = try await server.archive.ingest(bytes: part) }
        return server
    }

    private func get(_ server: TestServer, _ path: String, accept: String? = nil, headers extra: HTTPFields = [:],
                     check: @escaping @Sendable (TestResponse) throws -> Void) async throws {
        var fields = extra
        if let accept { fields[.accept] = accept }
        let headers = fields
        try await server.app.test(.router) { client in
            try await client.execute(uri: path, method: .get, headers: headers) { try check($0) }
        }
    }

    @Test func retrievesAnInstanceAsStoredInAMultipartBody() async throws {
        let bytes = try TestServer.instance(sop: "2.25.1")
        let server = try await stored([bytes])
        try await get(server, "/dicom-web/studies/2.25.100/series/2.25.200/instances/2.25.1",
                      accept: "multipart/related; type=\"application/dicom\"; transfer-syntax=*") { response in
            #expect(response.status == .ok)
            let type = try #require(response.headers[.contentType])
            #expect(type.hasPrefix("multipart/related; type=\"application/dicom\""))
            let boundary = try #require(MediaType(type)?.parameters["boundary"])
            let body = Array(response.body.readableBytesView)
            let header = Array("--\(boundary)\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\nContent-Length: \(bytes.count)\r\n\r\n".utf8)
            #expect(Array(body.prefix(header.count)) == header)
            #expect(Array(body[header.count..<(header.count + bytes.count)]) == bytes)
            #expect(body.suffix(boundary.count + 6) == ArraySlice(Array("--\(boundary)--\r\n".utf8)))
            #expect(response.headers[.crossOriginResourcePolicy] == "cross-origin")
        }
    }

    @Test func answersNotFoundNamingTheMissingLevel() async throws {
        let server = try await stored([try TestServer.instance(sop: "2.25.1")])
        try await get(server, "/dicom-web/studies/2.25.100/series/2.25.999") { response in
            #expect(response.status == .notFound)
            #expect(String(buffer: response.body).contains("series 2.25.999 is not in study 2.25.100"))
        }
        try await get(server, "/dicom-web/studies/2.25.999/metadata") { response in
            #expect(response.status == .notFound)
        }
    }

    @Test func metadataHasBulkDataURIsAtTheRequestBaseAndAnETag() async throws {
        let server = try await stored([try multiFrameInstance(sop: "2.25.7", frames: 300)])
        try await server.app.test(.router) { client in
            let etag = try await client.execute(uri: "/dicom-web/studies/2.25.100/series/2.25.200/metadata", method: .get) { response in
                #expect(response.status == .ok)
                let json = try #require(try TestServer.json(response.body) as? [[String: Any]])
                let pixel = try #require(json.first?["7FE00010"] as? [String: Any])
                // The request's authority (the test client's: localhost) in front of the stored relative path.
                #expect(pixel["BulkDataURI"] as? String
                    == "http://localhost/dicom-web/studies/2.25.100/series/2.25.200/instances/2.25.7/bulkdata/7FE00010")
                return try #require(response.headers[.eTag])
            }
            try await client.execute(uri: "/dicom-web/studies/2.25.100/series/2.25.200/metadata", method: .get,
                                     headers: [.ifNoneMatch: etag]) { response in
                #expect(response.status == .notModified)
            }
        }
    }

    @Test func servesFramesAndRejectsBadLists() async throws {
        let server = try await stored([try multiFrameInstance(sop: "2.25.7", frames: 3)])
        let base = "/dicom-web/studies/2.25.100/series/2.25.200/instances/2.25.7/frames"
        try await get(server, "\(base)/3", accept: "application/octet-stream") { response in
            #expect(response.status == .ok)
            #expect(Array(response.body.readableBytesView) == [3, 3, 3, 3])
        }
        try await get(server, "\(base)/4") { response in
            #expect(response.status == .notFound)
            #expect(String(buffer: response.body).contains("has 3 frames"))
        }
        try await get(server, "\(base)/1,x") { response in #expect(response.status == .badRequest) }
    }

    @Test func servesByteRangesOfBulkData() async throws {
        let server = try await stored([try multiFrameInstance(sop: "2.25.7", frames: 300)])
        let uri = "/dicom-web/studies/2.25.100/series/2.25.200/instances/2.25.7/bulkdata/7FE00010"
        try await get(server, uri, accept: "application/octet-stream", headers: [.range: "bytes=4-7"]) { response in
            #expect(response.status == .partialContent)
            #expect(Array(response.body.readableBytesView) == [2, 2, 2, 2])
            #expect(response.headers[.contentRange] == "bytes 4-7/1200")
        }
        try await get(server, uri, accept: "application/octet-stream", headers: [.range: "bytes=5000-"]) { response in
            #expect(response.status == .rangeNotSatisfiable)
        }
    }

    @Test func deletesASeriesAndItsFilesGo() async throws {
        let server = try await stored([try TestServer.instance(sop: "2.25.1"), try TestServer.instance(sop: "2.25.2")])
        try await server.app.test(.router) { client in
            try await client.execute(uri: "/dicom-web/studies/2.25.100/series/2.25.200", method: .delete) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/dicom-web/studies/2.25.100/series/2.25.200", method: .delete) { response in
                #expect(response.status == .notFound)
            }
        }
        #expect(try server.archive.counts() == (0, 0, 0))
        // The files go once no reader holds the study (here: at once, in a background task).
        for _ in 0..<100 where !server.archive.store.allRelativePaths().isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(server.archive.store.allRelativePaths().isEmpty)
    }
}

@Suite struct RetrieveNegotiationTests {
    let explicitLE = "1.2.840.10008.1.2.1", implicitLE = "1.2.840.10008.1.2", j2k = "1.2.840.10008.1.2.4.90"
    let jpegLS = "1.2.840.10008.1.2.4.80"   // stored compressed, and not decodable here

    @Test func instancesDefaultToExplicitLittleEndianAndReencodeWhatCanBeDecoded() throws {
        let plain = try RetrieveNegotiation.instances(accept: "multipart/related; type=\"application/dicom\"",
                                                      storedSyntaxes: [explicitLE, implicitLE], singlePartAllowed: false)
        #expect(plain.multipart && plain.encodings == [.asStored, .explicitLittleEndian])
        let decoded = try RetrieveNegotiation.instances(accept: "multipart/related; type=application/dicom", storedSyntaxes: [j2k],
                                                        singlePartAllowed: false)
        #expect(decoded.encodings == [.explicitLittleEndian])
        #expect(throws: DICOMwebError.self) {
            try RetrieveNegotiation.instances(accept: "multipart/related; type=application/dicom", storedSyntaxes: [jpegLS],
                                              singlePartAllowed: false)
        }
        let star = try RetrieveNegotiation.instances(accept: "multipart/related;type=application/dicom;transfer-syntax=*",
                                                     storedSyntaxes: [j2k, implicitLE], singlePartAllowed: false)
        #expect(star.encodings == [.asStored, .asStored])
        let any = try RetrieveNegotiation.instances(accept: "*/*", storedSyntaxes: [j2k, implicitLE], singlePartAllowed: false)
        #expect(any.encodings == [.asStored, .explicitLittleEndian])
        let implicit = try RetrieveNegotiation.instances(accept: "multipart/related; type=application/dicom; transfer-syntax=\(implicitLE)",
                                                         storedSyntaxes: [explicitLE, implicitLE], singlePartAllowed: false)
        #expect(implicit.encodings == [.reencoded(implicitLE), .asStored])
        #expect(throws: DICOMwebError.self) {   // Big Endian (retired) is not produced
            try RetrieveNegotiation.instances(accept: "multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2.2",
                                              storedSyntaxes: [explicitLE], singlePartAllowed: false)
        }
    }

    @Test func framesFollowTheAcceptedMediaType() throws {
        let native = try RetrieveNegotiation.frames(accept: "multipart/related; type=\"*/*\"", storedSyntax: explicitLE,
                                                    encapsulated: false, frameCount: 2)
        #expect(native == FrameEncoding(multipart: true, partType: "application/octet-stream", transferSyntaxUID: explicitLE))
        let jp2 = try RetrieveNegotiation.frames(accept: "multipart/related; type=\"image/jp2\"", storedSyntax: j2k,
                                                 encapsulated: true, frameCount: 1)
        #expect(jp2 == FrameEncoding(multipart: true, partType: "image/jp2", transferSyntaxUID: j2k))
        let decoded = try RetrieveNegotiation.frames(accept: "multipart/related; type=application/octet-stream", storedSyntax: j2k,
                                                     encapsulated: true, frameCount: 1)
        #expect(decoded == FrameEncoding(multipart: true, partType: "application/octet-stream", transferSyntaxUID: explicitLE,
                                         decode: true))
        #expect(throws: DICOMwebError.self) {
            try RetrieveNegotiation.frames(accept: "multipart/related; type=application/octet-stream", storedSyntax: jpegLS,
                                           encapsulated: true, frameCount: 1)
        }
        #expect(throws: DICOMwebError.self) {
            try RetrieveNegotiation.frames(accept: "application/octet-stream", storedSyntax: explicitLE, encapsulated: false,
                                           frameCount: 2)
        }
    }

    @Test func parsesFrameListsAndRanges() throws {
        #expect(try FrameRoutes.frameNumbers("1,3, 5") == [1, 3, 5])
        for bad in ["", "0", "1,", "a", "-1"] {
            #expect(throws: DICOMwebError.self) { try FrameRoutes.frameNumbers(bad) }
        }
        #expect(try ByteRange("bytes=0-9")?.window(length: 100) == 0..<10)
        #expect(try ByteRange("bytes=90-")?.window(length: 100) == 90..<100)
        #expect(try ByteRange("bytes=-5")?.window(length: 100) == 95..<100)
        #expect(try ByteRange("bytes=0-999")?.window(length: 100) == 0..<100)
        #expect(try ByteRange("bytes=100-")?.window(length: 100) == nil)
        #expect(try ByteRange("bytes=0-1,5-6") == nil)   // several ranges: the whole value
        #expect(throws: DICOMwebError.self) { try ByteRange("bytes=9-1") }
    }
}
