import Archive
import DICOM
import Enrichment
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
@testable import MiniVNAServer
import NIOCore
import Testing
import TestSupport

/// `/ai` in process: requests, their errors, the audit and the models (the pipeline's workers
/// are not running: these check what the routes say and record).
@Suite struct AIRouteTests {
    struct Server {
        let temporary: TemporaryArchive
        let pipeline: EnrichmentPipeline
        let app: Application<RouterResponder<AppRequestContext>>

        init() throws {
            temporary = try TemporaryArchive()
            let configuration = ServerConfiguration(dataDirectory: temporary.directory)
            let pipeline = try #require(EnrichmentPipeline.make(configuration, archive: temporary.archive, logger: Logger(label: "test")))
            self.pipeline = pipeline
            app = Application(router: buildRouter(configuration, archive: temporary.archive, enrichment: pipeline, logger: Logger(label: "test")))
        }
    }

    func request(_ server: Server, _ method: HTTPRequest.Method, _ uri: String, json: String? = nil) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await server.app.test(.router) { client in
            try await client.execute(uri: uri, method: method, headers: [.contentType: "application/json"],
                                     body: json.map { ByteBuffer(string: $0) }) { response in
                (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:])
            }
        }
    }

    @Test func aRequestForAStoredStudyQueuesAJobPerMatchingAnalyzer() async throws {
        let server = try Server()
        _ = try await server.temporary.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1", modality: "CT"))
        let (status, body) = try await request(server, .post, "/ai/analyze", json: #"{"studyInstanceUID": "2.25.100"}"#)
        #expect(status == .accepted)
        let jobs = try #require(body["jobs"] as? [[String: Any]])
        // No pixels: image quality matches the series (a CT image series) and is queued too; the job decides.
        #expect(Set(jobs.compactMap { $0["analyzer"] as? String }) == ["minivna-image-quality", "minivna-ct-dose", "minivna-data-quality"])
        #expect(jobs.allSatisfy { $0["status"] as? String == "queued" && $0["trigger"] as? String == "request" })
        let (_, listed) = try await request(server, .get, "/ai/jobs?study=2.25.100")
        #expect((listed["jobs"] as? [Any])?.count == 3)
        let (_, models) = try await request(server, .get, "/ai/models")
        let entries = try #require(models["models"] as? [[String: Any]])
        #expect(entries.count == 3 && entries.allSatisfy { ($0["openJobs"] as? Int) == 1 && $0["kind"] as? String == "built-in" })
    }

    @Test(arguments: [
        (#"{"studyInstanceUID": "2.25.404"}"#, HTTPResponse.Status.notFound, "not in the archive"),
        (#"{"studyInstanceUID": "not a uid"}"#, .badRequest, "not a valid UID"),
        (#"{"studyInstanceUID": "2.25.100", "analyzers": ["nope"]}"#, .badRequest, "no analyzer \"nope\""),
        (#"{"studyInstanceUID": "2.25.100", "filter": {}}"#, .badRequest, "not both"),
        (#"{"filter": {"Nonsense": "x"}}"#, .badRequest, "Nonsense"),
        (#"{"filter": {"limit": "5"}}"#, .badRequest, "not a matching key"),
        (#"["array"]"#, .badRequest, "JSON object"),
        (#"{"studyInstanceUIDs": "x"}"#, .badRequest, "list of strings"),
    ])
    func aBadRequestSaysWhatIsWrong(_ body: String, _ status: HTTPResponse.Status, _ needle: String) async throws {
        let server = try Server()
        _ = try await server.temporary.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1", modality: "CT"))
        let (answered, json) = try await request(server, .post, "/ai/analyze", json: body)
        #expect(answered == status)
        #expect((json["error"] as? String)?.contains(needle) == true, "\(json)")
    }

    @Test func runsAreFilteredAndParametersChecked() async throws {
        let server = try Server()
        #expect(try await request(server, .get, "/ai/runs?status=bogus").0 == .badRequest)
        #expect(try await request(server, .get, "/ai/runs?limit=0").0 == .badRequest)
        #expect(try await request(server, .get, "/ai/runs?since=yesterday").0 == .badRequest)
        #expect(try await request(server, .get, "/ai/runs?colour=red").0 == .badRequest)
        #expect(try await request(server, .get, "/ai/runs?model=").0 == .badRequest)
        #expect(try await request(server, .get, "/ai/runs?model=@").0 == .badRequest)
        #expect(try await request(server, .get, "/ai/runs?model=x@").0 == .badRequest)
        let (status, body) = try await request(server, .get, "/ai/runs?model=minivna-ct-dose@1.0&since=2026-01-01T00:00:00Z")
        #expect(status == .ok && body["total"] as? Int == 0)
        #expect(try await request(server, .get, "/ai/batches/unknown").0 == .notFound)
        #expect(try await request(server, .delete, "/ai/batches/unknown").0 == .notFound)
        #expect(try await request(server, .post, "/ai/callbacks/12", json: "{}").0 == .notFound)
        #expect(try await request(server, .get, "/ai/jobs").0 == .badRequest)
    }

    @Test func withoutEnrichmentThereAreNoAIRoutes() async throws {
        let temporary = try TemporaryArchive()
        var configuration = ServerConfiguration(dataDirectory: temporary.directory)
        configuration.enrichment.enabled = false
        #expect(EnrichmentPipeline.make(configuration, archive: temporary.archive, logger: Logger(label: "test")) == nil)
        let app = Application(router: buildRouter(configuration, archive: temporary.archive, logger: Logger(label: "test")))
        try await app.test(.router) { client in
            try await client.execute(uri: "/ai/models", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test func anExternalServiceFlagIsParsedOrRefusedWithTheReason() throws {
        let service = try EnrichmentSettings.ExternalService.parse("lungs@2.0=http://127.0.0.1:9/jobs;modality=CT,MR;min-instances=20;body-part=chest")
        #expect(service.name == "lungs" && service.version == "2.0" && service.url == "http://127.0.0.1:9/jobs")
        #expect(service.selector.modalities == ["CT", "MR"] && service.selector.minimumInstances == 20 && service.selector.bodyParts == ["CHEST"])
        for (text, needle) in [("lungs=http://x/jobs", "NAME@VERSION"), ("lungs@1=ftp://x", "not an http"), ("l@1=http://x/j;colour=red", "unknown selector"),
                               ("l@1=http://x/j;min-instances=0", "min-instances"), ("l@1=http://x/j;series-description=(", "regular expression")] {
            #expect(throws: EnrichmentSettings.SettingsError.self) { try EnrichmentSettings.ExternalService.parse(text) }
            do { _ = try EnrichmentSettings.ExternalService.parse(text) } catch { #expect(error.description.contains(needle), "\(text): \(error)") }
        }
        #expect(try EnrichmentSettings.parseReferenceLevel("chest=10:300").1 == DoseAnalyzer.ReferenceLevel(ctdiVol: 10, dlp: 300))
        #expect(throws: EnrichmentSettings.SettingsError.self) { try EnrichmentSettings.parseReferenceLevel("CHEST=10") }
        #expect(try EnrichmentSettings.parseQualityLimits("saturated=2,noise=30").maximumNoise == 30)
    }
}
