import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
@testable import MiniVNAServer
import NIOCore
import Testing
import TestSupport

/// A router over a fresh archive in a temporary folder.
struct TestServer {
    let directory: URL
    let archive: Archive
    let app: Application<RouterResponder<AppRequestContext>>

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-routes-\(UUID().uuidString)")
        let configuration = ServerConfiguration(dataDirectory: directory, maximumRequestSize: 1 << 20)
        archive = try Archive(configuration: configuration.archiveConfiguration)
        // The wiring `buildApplication` serves: every route and middleware.
        app = Application(router: buildRouter(configuration, archive: archive, logger: Logger(label: "minivna-tests")))
    }

    static let boundary = "MiniVNA-test-boundary"
    static let stowType = "multipart/related; type=\"application/dicom\"; boundary=\(boundary)"

    static func multipart(_ parts: [[UInt8]], boundary: String = boundary, close: Bool = true) -> ByteBuffer {
        var body: [UInt8] = []
        for part in parts {
            body += Array("--\(boundary)\r\nContent-Type: application/dicom\r\n\r\n".utf8) + part + Array("\r\n".utf8)
        }
        if close { body += Array("--\(boundary)--\r\n".utf8) }
        return ByteBuffer(bytes: body)
    }

    /// An instance with only the attributes route tests rely on (the shared builder's).
    static func instance(study: String = "2.25.100", series: String = "2.25.200", sop: String, name: String = "Doe^John",
                         patientID: String = "P1", modality: String = "CT", date: String = "20240115") throws -> [UInt8] {
        try Fixture.instance(study: study, series: series, sop: sop, patientName: name, patientID: patientID, modality: modality,
                             studyDate: date, accession: nil, description: nil, seriesNumber: nil, instanceNumber: nil)
    }

    static func json(_ buffer: ByteBuffer) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
    }
}

@Suite struct STOWRouteTests {
    func post(_ server: TestServer, _ body: ByteBuffer, type: String = TestServer.stowType, path: String = "/dicom-web/studies",
              check: @escaping @Sendable (TestResponse) throws -> Void) async throws {
        try await server.app.test(.router) { client in
            try await client.execute(uri: path, method: .post, headers: [.contentType: type], body: body) { try check($0) }
        }
    }

    @Test func storesInstancesAndAnswersWithReferencedSOPSequence() async throws {
        let server = try TestServer()
        let body = TestServer.multipart([try TestServer.instance(sop: "2.25.1"), try TestServer.instance(sop: "2.25.2")])
        try await post(server, body) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/dicom+json")
            let json = try #require(try TestServer.json(response.body) as? [String: Any])
            let referenced = try #require((json["00081199"] as? [String: Any])?["Value"] as? [[String: Any]])
            #expect(referenced.count == 2)
            #expect(((json["00081190"] as? [String: Any])?["Value"] as? [String])?.first?.hasSuffix("/dicom-web/studies/2.25.100") == true)
        }
        #expect(try server.archive.counts() == (1, 1, 2))
    }

    @Test func answers202WhenSomeInstancesFailAnd409WhenAllDo() async throws {
        let server = try TestServer()
        let partial = TestServer.multipart([try TestServer.instance(sop: "2.25.1"), Array("not dicom at all".utf8)])
        try await post(server, partial) { response in
            #expect(response.status == .accepted)
            let json = try #require(try TestServer.json(response.body) as? [String: Any])
            let failed = try #require((json["00081198"] as? [String: Any])?["Value"] as? [[String: Any]])
            #expect(((failed[0]["00081197"] as? [String: Any])?["Value"] as? [Int]) == [0xC000])
            #expect(response.headers[.warning]?.contains("part 2") == true)
        }
        try await post(server, TestServer.multipart([Array("garbage".utf8)])) { response in
            #expect(response.status == .conflict)
        }
    }

    @Test func reportsStudyMismatchAsA900() async throws {
        let server = try TestServer()
        let body = TestServer.multipart([try TestServer.instance(study: "2.25.100", sop: "2.25.1")])
        try await post(server, body, path: "/dicom-web/studies/2.25.999") { response in
            #expect(response.status == .conflict)
            let json = try #require(try TestServer.json(response.body) as? [String: Any])
            let failed = try #require((json["00081198"] as? [String: Any])?["Value"] as? [[String: Any]])
            #expect(((failed[0]["00081197"] as? [String: Any])?["Value"] as? [Int]) == [0xA900])
        }
    }

    @Test(arguments: [
        ("no framing", "just bytes, no multipart framing"),
        ("boundary never occurs", "--other-boundary\r\nContent-Type: application/dicom\r\n\r\nxx\r\n--other-boundary--\r\n"),
        ("zero parts", "--MiniVNA-test-boundary--\r\n"),
    ])
    func rejectsBodiesWithoutValidFramingWith400(_ testCase: (String, String)) async throws {
        let server = try TestServer()
        try await post(server, ByteBuffer(string: testCase.1)) { response in
            #expect(response.status == .badRequest, "\(testCase.0)")
            #expect(response.headers[.contentType] == "application/json")
        }
        #expect(try server.archive.counts() == (0, 0, 0))
    }

    @Test func rejectsAMissingCloseDelimiterAndStoresNothing() async throws {
        let server = try TestServer()
        let body = TestServer.multipart([try TestServer.instance(sop: "2.25.1"), try TestServer.instance(sop: "2.25.2")], close: false)
        try await post(server, body) { response in
            #expect(response.status == .badRequest)
            #expect(String(buffer: response.body).contains("close delimiter"))
        }
        #expect(try server.archive.counts() == (0, 0, 0))
    }

    @Test(arguments: [
        "application/dicom",
        "multipart/related; type=\"application/dicom+json\"; boundary=x",
        "text/plain",
    ])
    func rejectsUnsupportedMediaTypesWith415(_ type: String) async throws {
        let server = try TestServer()
        try await post(server, ByteBuffer(string: "x"), type: type) { response in
            #expect(response.status == .unsupportedMediaType)
        }
    }

    @Test(arguments: [
        "multipart/related; type=application/dicom; boundary=MiniVNA-test-boundary",
        "multipart/related;type=\"application/dicom\";boundary=\"MiniVNA-test-boundary\"",
        "Multipart/Related ;  boundary=MiniVNA-test-boundary ; type=\"application/dicom\" ;",
        "multipart/related; boundary=MiniVNA-test-boundary",
    ])
    func acceptsTheContentTypeSpellingsRealClientsSend(_ type: String) async throws {
        let server = try TestServer()
        try await post(server, TestServer.multipart([try TestServer.instance(sop: "2.25.1")]), type: type) { response in
            #expect(response.status == .ok)
        }
    }

    @Test func rejectsAMissingBoundaryWith400AndAnOversizedBodyWith413() async throws {
        let server = try TestServer()
        try await post(server, ByteBuffer(string: "x"), type: "multipart/related; type=\"application/dicom\"") { response in
            #expect(response.status == .badRequest)
        }
        let big = TestServer.multipart([[UInt8](repeating: 0, count: 2 << 20)])
        try await post(server, big) { response in
            #expect(response.status == .contentTooLarge)
        }
    }
}

@Suite struct QIDORouteTests {
    static func loaded() async throws -> TestServer {
        let server = try TestServer()
        for (i, name) in ["Smith^John", "Smithson^Anna", "Müller^Jürgen"].enumerated() {
            _ = try await server.archive.ingest(bytes: try TestServer.instance(study: "2.25.1\(i)", series: "2.25.2\(i)",
                sop: "2.25.3\(i)", name: name, patientID: "ID12\(i)", date: "2024011\(i)"))
        }
        return server
    }

    func get(_ server: TestServer, _ uri: String, headers: HTTPFields = [:],
             check: @escaping @Sendable (TestResponse) throws -> Void) async throws {
        try await server.app.test(.router) { client in
            try await client.execute(uri: uri, method: .get, headers: headers) { try check($0) }
        }
    }

    @Test func searchesStudiesWithPercentEncodedWildcards() async throws {
        let server = try await Self.loaded()
        try await get(server, "/dicom-web/studies?PatientName=%2Asmith%2A&limit=101&includefield=00081030,00080060") { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/dicom+json")
            let results = try #require(try TestServer.json(response.body) as? [[String: Any]])
            #expect(results.count == 2)
        }
        try await get(server, "/dicom-web/studies?PatientName=m%C3%BCller%5Ej%C3%BCrgen") { response in
            let results = try TestServer.json(response.body) as? [[String: Any]]
            #expect(results?.count == 1)
        }
    }

    @Test func pagesAndWarnsWhenResultsAreCut() async throws {
        let server = try await Self.loaded()
        try await get(server, "/dicom-web/studies?limit=2") { response in
            let results = try TestServer.json(response.body) as? [[String: Any]]
            #expect(results?.count == 2)
            #expect(response.headers[.warning]?.hasPrefix("299") == true)
        }
        try await get(server, "/dicom-web/studies?limit=2&offset=2") { response in
            let results = try TestServer.json(response.body) as? [[String: Any]]
            #expect(results?.count == 1)
            #expect(response.headers[.warning] == nil)
        }
    }

    @Test(arguments: ["offset=-1", "limit=abc", "Foo=1", "StudyDate=2024", "PatientName=%ZZ"])
    func rejectsBadParametersWith400AndAReason(_ query: String) async throws {
        let server = try await Self.loaded()
        try await get(server, "/dicom-web/studies?\(query)") { response in
            #expect(response.status == .badRequest)
            #expect(response.headers[.contentType] == "application/json")
            #expect(String(buffer: response.body).contains("error"))
        }
    }

    @Test func negotiatesJSONXMLOr406() async throws {
        let server = try await Self.loaded()
        try await get(server, "/dicom-web/studies", headers: [.accept: "application/json"]) { #expect($0.status == .ok) }
        try await get(server, "/dicom-web/studies", headers: [.accept: "*/*"]) { #expect($0.status == .ok) }
        try await get(server, "/dicom-web/studies", headers: [.accept: "multipart/related; type=application/dicom+xml"]) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("multipart/related; type=\"application/dicom+xml\"") == true)
            #expect(String(buffer: response.body).contains("<NativeDicomModel"))
        }
        try await get(server, "/dicom-web/studies", headers: [.accept: "image/png"]) { response in
            #expect(response.status == .notAcceptable)
            #expect(response.headers[.contentType] == "application/json")
        }
    }

    @Test func searchesSeriesAndInstancesInAStudy() async throws {
        let server = try await Self.loaded()
        try await get(server, "/dicom-web/studies/2.25.10/series") { response in
            let results = try #require(try TestServer.json(response.body) as? [[String: Any]])
            #expect(results.count == 1)
            #expect(((results[0]["00081190"] as? [String: Any])?["Value"] as? [String])?.first?.hasSuffix("/studies/2.25.10/series/2.25.20") == true)
        }
        try await get(server, "/dicom-web/studies/2.25.10/series/2.25.20/instances") { response in
            let results = try TestServer.json(response.body) as? [[String: Any]]
            #expect(results?.count == 1)
        }
        try await get(server, "/dicom-web/studies/not-a-uid/series") { #expect($0.status == .badRequest) }
    }

    @Test func answersCORSPreflightAllowingAcceptAndAuthorization() async throws {
        let server = try TestServer()
        try await get(server, "/dicom-web/studies", headers: [.origin: "http://viewer.example"]) { response in
            #expect(response.headers[.accessControlAllowOrigin] == "*")
        }
        try await server.app.test(.router) { client in
            try await client.execute(uri: "/dicom-web/studies", method: .options,
                                     headers: [.origin: "http://viewer.example", .accessControlRequestMethod: "GET",
                                               .accessControlRequestHeaders: "accept, authorization"]) { response in
                #expect(response.status == .noContent || response.status == .ok)
                let allowed = response.headers[.accessControlAllowHeaders]?.lowercased() ?? ""
                #expect(allowed.contains("accept") && allowed.contains("authorization"))
            }
        }
    }
}
