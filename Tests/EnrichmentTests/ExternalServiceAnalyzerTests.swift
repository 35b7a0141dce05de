@testable import Archive
import DICOM
@testable import Enrichment
import Foundation
import Testing
import TestSupport

/// An external service's answers as the pipeline meets them: findings, late findings, refusals,
/// garbage and silence (with the circuit breaker).
@Suite struct ExternalServiceAnalyzerTests {
    struct ScriptedTransport: InferenceTransport {
        let answer: @Sendable (_ request: [UInt8]) async throws -> (status: Int, body: [UInt8])
        func postJSON(_ url: String, body: [UInt8], headers: [(String, String)], timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
            try await answer(body)
        }
    }

    struct Refused: Error {}

    /// A stored CT and an input for a job over it.
    func input(_ t: TemporaryArchive) async throws -> StudyInput {
        try await studyInput(t.archive, study: try await storeFixtureCT(t.archive), dicomWebBaseURL: "http://127.0.0.1:1/dicom-web")
    }

    func analyzer(_ transport: ScriptedTransport, callbacks: PendingCallbacks = PendingCallbacks(),
                  breaker: CircuitBreaker = CircuitBreaker()) -> ExternalServiceAnalyzer {
        ExternalServiceAnalyzer(identity: AnalyzerIdentity(name: "svc", version: "1", manufacturer: "Tests", description: ""),
                                selector: AnalyzerSelector(modalities: ["CT"]), url: "http://service.test/jobs", transport: transport,
                                callbacks: callbacks, callbackTimeout: .seconds(5), breaker: breaker)
    }

    static func findings(_ input: StudyInput, sop: String? = nil) -> [UInt8] {
        let series = input.series[0]
        let instance = series.instances[0]
        return Array("""
        {"jobId": "\(input.job.id)", "groups": [{"trackingIdentifier": "Right lung", "priority": "routine",
          "finding": {"scheme": "SCT", "code": "39607008", "meaning": "Lung structure"},
          "findingSite": {"scheme": "SCT", "code": "3341006", "meaning": "Right lung"},
          "references": [{"seriesInstanceUID": "\(series.seriesInstanceUID)", "sopInstanceUID": "\(sop ?? instance.sopInstanceUID)",
                          "sopClassUID": "\(instance.sopClassUID)"}],
          "measurements": [{"concept": {"scheme": "SCT", "code": "118565006", "meaning": "Volume"}, "value": 2750.5,
                            "unit": {"code": "ml", "meaning": "milliliter"}}]}]}
        """.utf8)
    }

    @Test func findingsAnsweredAtOnceBecomeTheResult() async throws {
        let t = try TemporaryArchive()
        let input = try await input(t)
        let request = RequestBox()
        let result = try await analyzer(ScriptedTransport { body in
            await request.set(body)
            return (200, Self.findings(input))
        }).analyze(input)
        #expect(result.groups.count == 1)
        #expect(result.groups[0].measurements[0].unit == .ucum("ml", "milliliter"))
        #expect(result.groups[0].measurements[0].value == 2750.5)
        let sent = try JSONDecoder().decode(ServiceContract.Request.self, from: Data(try #require(await request.value)))
        #expect(sent.studyInstanceUID == input.study.studyInstanceUID)
        #expect(sent.dicomwebBaseURL == "http://127.0.0.1:1/dicom-web")
        #expect(sent.model.name == "svc" && sent.jobId == String(input.job.id))
    }

    @Test func findingsAnsweredLaterArriveThroughTheCallback() async throws {
        let t = try TemporaryArchive()
        let input = try await input(t)
        let callbacks = PendingCallbacks()
        let service = analyzer(ScriptedTransport { _ in
            Task {
                try await Task.sleep(for: .milliseconds(50))
                _ = await callbacks.deliver(input.job.id, body: Self.findings(input))
            }
            return (202, Array(#"{"jobId": "1"}"#.utf8))
        }, callbacks: callbacks)
        #expect(try await service.analyze(input).groups.count == 1)
        #expect(await callbacks.deliver(input.job.id, body: []) == false)   // the job no longer waits
    }

    @Test func garbageIsATransientFailureThatSaysWhat() async throws {
        let t = try TemporaryArchive()
        let input = try await input(t)
        await #expect(throws: AnalysisFailure.self) {
            try await analyzer(ScriptedTransport { _ in (200, Array("not json{".utf8)) }).analyze(input)
        }
        do {
            _ = try await analyzer(ScriptedTransport { _ in (200, Array("not json{".utf8)) }).analyze(input)
        } catch let failure as AnalysisFailure {
            guard case .transient(let reason) = failure else { Issue.record("not transient: \(failure)"); return }
            #expect(reason.contains("not findings JSON") && reason.contains("not json{"))
        }
    }

    @Test func aRefusalIsPermanentWithTheServiceReason() async throws {
        let t = try TemporaryArchive()
        let input = try await input(t)
        do {
            _ = try await analyzer(ScriptedTransport { _ in (422, Array(#"{"error": "no CT series with lungs"}"#.utf8)) }).analyze(input)
            Issue.record("no failure")
        } catch let failure as AnalysisFailure {
            #expect(failure == .permanent("http://service.test/jobs refused the job (422): no CT series with lungs"))
        }
    }

    @Test func aReferenceOutsideTheStudyIsRefused() async throws {
        let t = try TemporaryArchive()
        let input = try await input(t)
        do {
            _ = try await analyzer(ScriptedTransport { _ in (200, Self.findings(input, sop: "2.25.999")) }).analyze(input)
            Issue.record("no failure")
        } catch let failure as AnalysisFailure {
            guard case .permanent(let reason) = failure else { Issue.record("\(failure)"); return }
            #expect(reason.contains("2.25.999"))
        }
    }

    @Test func theCircuitOpensAfterRepeatedFailuresAndClosesOnSuccess() async throws {
        let t = try TemporaryArchive()
        let input = try await input(t)
        let calls = Counter()
        let breaker = CircuitBreaker(threshold: 3, cooldown: 60)
        let service = analyzer(ScriptedTransport { _ in
            _ = await calls.next()
            throw Refused()
        }, breaker: breaker)
        for _ in 0..<5 { _ = try? await service.analyze(input) }
        #expect(await calls.count == 3)   // the last two were not sent
        do {
            _ = try await service.analyze(input)
            Issue.record("the circuit did not open")
        } catch let failure as AnalysisFailure {
            guard case .deferred(let until, let reason) = failure else { Issue.record("not deferred: \(failure)"); return }
            #expect(reason.contains("circuit open") && until > Date().timeIntervalSince1970 + 50)
        }
        breaker.recordSuccess()
        #expect(breaker.refusal() == nil)
    }
}

actor RequestBox {
    var value: [UInt8]?
    func set(_ bytes: [UInt8]) { value = bytes }
}
