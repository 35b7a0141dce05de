import Archive
import DICOM
import Foundation

/// How the pipeline reaches an external service: the server supplies an HTTP client (this
/// module knows no HTTP).
public protocol InferenceTransport: Sendable {
    /// POSTs a JSON body; the status and body of the answer. Throws when there is no answer
    /// (refused, reset, timed out).
    func postJSON(_ url: String, body: [UInt8], headers: [(String, String)], timeout: Duration) async throws -> (status: Int, body: [UInt8])
}

/// An analyzer that is a service elsewhere, configured by URL. MiniVNA POSTs a job (the study
/// and series UIDs, the DICOMweb base URL, a callback URL); the service fetches the pixels
/// itself through WADO-RS and answers with findings, at once (200) or later (202, then a POST
/// to the callback URL). The contract is in CONFORMANCE.md (JSON Schema). A service that is
/// down fails its own jobs (retried with backoff, a circuit breaker between) and nothing else.
public struct ExternalServiceAnalyzer: Analyzer {
    public let identity: AnalyzerIdentity
    public let selector: AnalyzerSelector
    public let url: String
    let transport: any InferenceTransport
    let breaker: CircuitBreaker
    let callbacks: PendingCallbacks
    let requestTimeout: Duration
    let callbackTimeout: Duration
    /// A short-lived token scoped to the study, which the server issues (nil with authentication off).
    let token: @Sendable (_ study: String) async -> String?

    public init(identity: AnalyzerIdentity, selector: AnalyzerSelector, url: String, transport: any InferenceTransport,
                callbacks: PendingCallbacks, requestTimeout: Duration = .seconds(60), callbackTimeout: Duration = .seconds(600),
                breaker: CircuitBreaker = CircuitBreaker(), token: @escaping @Sendable (String) async -> String? = { _ in nil }) {
        self.identity = identity
        self.selector = selector
        self.url = url
        self.transport = transport
        self.callbacks = callbacks
        self.requestTimeout = requestTimeout
        self.callbackTimeout = callbackTimeout
        self.breaker = breaker
        self.token = token
    }

    public func analyze(_ input: StudyInput) async throws -> AnalysisResult {
        if let wait = breaker.refusal() {
            throw AnalysisFailure.deferred(until: Date().timeIntervalSince1970 + wait,
                                           "circuit open for \(url) after repeated failures; next try in \(Int(wait.rounded(.up))) s")
        }
        let job = input.job
        let request = ServiceContract.Request(
            jobId: String(job.id), studyInstanceUID: input.study.studyInstanceUID,
            seriesInstanceUIDs: input.series.map(\.seriesInstanceUID), dicomwebBaseURL: input.dicomWebBaseURL,
            callbackURL: input.callbackURL, accessToken: await token(input.study.studyInstanceUID),
            model: .init(name: identity.name, version: identity.version))
        let body = try [UInt8](JSONEncoder().encode(request))
        await callbacks.expect(job.id)
        let answer: (status: Int, body: [UInt8])
        do {
            answer = try await transport.postJSON(url, body: body, headers: [], timeout: requestTimeout)
        } catch {
            await callbacks.forget(job.id)
            breaker.recordFailure()
            if error is CancellationError { throw error }
            throw AnalysisFailure.transient("\(url) did not answer: \(error)")
        }
        switch answer.status {
        case 200:
            await callbacks.forget(job.id)
            return try decode(answer.body, input: input)
        case 202:
            let late: [UInt8]
            do {
                late = try await callbacks.wait(job.id, timeout: callbackTimeout)
            } catch let failure as AnalysisFailure {
                breaker.recordFailure()   // accepted but never answered
                throw failure
            }
            return try decode(late, input: input)
        case 400..<500:
            await callbacks.forget(job.id)
            breaker.recordSuccess()
            throw AnalysisFailure.permanent("\(url) refused the job (\(answer.status)): \(Self.errorText(answer.body))")
        default:
            await callbacks.forget(job.id)
            breaker.recordFailure()
            throw AnalysisFailure.transient("\(url) answered \(answer.status): \(Self.errorText(answer.body))")
        }
    }

    /// A findings answer, checked: every reference must name an instance of the study.
    func decode(_ body: [UInt8], input: StudyInput) throws -> AnalysisResult {
        let answer: ServiceContract.Answer
        do {
            answer = try JSONDecoder().decode(ServiceContract.Answer.self, from: Data(body))
        } catch {
            breaker.recordFailure()
            throw AnalysisFailure.transient("\(url) answered something that is not findings JSON: \(Self.describe(error)); body starts \(Self.errorText(body))")
        }
        breaker.recordSuccess()
        if let error = answer.error { throw AnalysisFailure.permanent("\(url) could not analyse the study: \(error)") }
        let known = Dictionary(input.allSeries.flatMap { series in series.instances.map { ($0.sopInstanceUID, (series.seriesInstanceUID, $0.sopClassUID)) } },
                               uniquingKeysWith: { a, _ in a })
        var groups: [MeasurementGroup] = []
        for (index, group) in (answer.groups ?? []).enumerated() {
            for reference in group.references where known[reference.sopInstanceUID]?.0 != reference.seriesInstanceUID {
                throw AnalysisFailure.permanent("group \(index + 1) refers to \(reference.sopInstanceUID), not an instance of series \(reference.seriesInstanceUID) of the study")
            }
            groups.append(MeasurementGroup(
                trackingIdentifier: group.trackingIdentifier, finding: group.finding, findingSite: group.findingSite,
                // The SOP class as the archive stored it, whatever the answer says.
                references: group.references.map { ImageReference(seriesInstanceUID: $0.seriesInstanceUID, sopInstanceUID: $0.sopInstanceUID,
                                                                  sopClassUID: known[$0.sopInstanceUID]?.1 ?? $0.sopClassUID, frames: $0.frames) },
                measurements: (group.measurements ?? []).map {
                    Measurement(concept: $0.concept, value: $0.value, unit: .ucum($0.unit.code, $0.unit.meaning ?? $0.unit.code))
                },
                qualitative: (group.qualitative ?? []).map { QualitativeEvaluation(concept: $0.concept, value: $0.value) },
                priority: group.priority ?? .routine, confidence: group.confidence))
        }
        var instances: [[UInt8]] = []
        for (index, encoded) in (answer.instances ?? []).enumerated() {
            guard let data = Data(base64Encoded: encoded) else {
                throw AnalysisFailure.permanent("instance \(index + 1) of the answer is not base64")
            }
            instances.append([UInt8](data))
        }
        return AnalysisResult(groups: groups, instances: instances)
    }

    static func errorText(_ body: [UInt8]) -> String {
        if let json = try? JSONValue.parse(body), let error = json["error"]?.stringValue { return error }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}

/// The wire format between MiniVNA and an external service (CONFORMANCE.md has its JSON Schema).
public enum ServiceContract {
    public struct Model: Codable, Sendable {
        public var name: String
        public var version: String
        public var manufacturer: String?
    }

    public struct Request: Codable, Sendable {
        public var jobId: String
        public var studyInstanceUID: String
        public var seriesInstanceUIDs: [String]
        public var dicomwebBaseURL: String?
        public var callbackURL: String?
        public var accessToken: String?
        public var model: Model

        init(jobId: String, studyInstanceUID: String, seriesInstanceUIDs: [String], dicomwebBaseURL: String?, callbackURL: String?,
             accessToken: String?, model: Model) {
            self.jobId = jobId
            self.studyInstanceUID = studyInstanceUID
            self.seriesInstanceUIDs = seriesInstanceUIDs
            self.dicomwebBaseURL = dicomwebBaseURL
            self.callbackURL = callbackURL
            self.accessToken = accessToken
            self.model = model
        }
    }

    public struct Unit: Codable, Sendable {
        public var code: String
        public var meaning: String?
    }

    public struct MeasurementAnswer: Codable, Sendable {
        public var concept: CodedConcept
        public var value: Double
        public var unit: Unit
    }

    public struct GroupAnswer: Codable, Sendable {
        public var trackingIdentifier: String
        public var finding: CodedConcept
        public var findingSite: CodedConcept?
        public var priority: FindingPriority?
        public var confidence: Double?
        public var references: [ImageReference]
        public var measurements: [MeasurementAnswer]?
        public var qualitative: [QualitativeEvaluation]?
    }

    public struct Answer: Codable, Sendable {
        public var jobId: String?
        public var model: Model?
        public var groups: [GroupAnswer]?
        /// Base64 DICOM Part 10 objects (a SEG) to store in the study.
        public var instances: [String]?
        /// Set instead of groups when the service could not analyse the study.
        public var error: String?
    }
}

/// Per service: after `threshold` consecutive failures, jobs are not sent for `cooldown`
/// seconds (they are retried later like any transient failure); then one is let through.
public final class CircuitBreaker: @unchecked Sendable {
    private let lock = NSLock()
    private var failures = 0
    private var openUntil: Double = 0
    let threshold: Int
    let cooldown: Double

    public init(threshold: Int = 5, cooldown: Double = 30) {
        self.threshold = threshold
        self.cooldown = cooldown
    }

    /// Seconds until the circuit closes, or nil when a request may go.
    func refusal(now: Double = Date().timeIntervalSince1970) -> Double? {
        lock.withLock {
            guard failures >= threshold, now < openUntil else { return nil }
            return openUntil - now
        }
    }

    func recordFailure(now: Double = Date().timeIntervalSince1970) {
        lock.withLock {
            failures += 1
            if failures >= threshold { openUntil = now + cooldown }
        }
    }

    func recordSuccess() {
        lock.withLock {
            failures = 0
            openUntil = 0
        }
    }
}
