import Archive
import DICOM
import Enrichment
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/ai`: ask for analyses (one study, or a QIDO-style filter as a retrospective batch), follow
/// and cancel batches, the audit of runs, the configured analyzers, the jobs of a study, and
/// the callback external services answer late on. Errors are JSON `{"status", "error"}`.
struct AIRoutes {
    let pipeline: EnrichmentPipeline
    let configuration: ServerConfiguration
    static let maximumBodyBytes = 1 << 20
    static let maximumCallbackBytes = 512 << 20
    static let maximumBatchStudies = 100_000

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("analyze") { request, context in try await analyze(request, context) }
        group.get("batches/:id") { _, context in try await batch(context) }
        group.delete("batches/:id") { _, context in try await cancelBatch(context) }
        group.get("runs") { request, _ in try await runs(request) }
        group.get("models") { _, _ in try await models() }
        group.get("jobs") { request, _ in try await jobs(request) }
        group.post("callbacks/:job") { request, context in try await callback(request, context) }
    }

    // MARK: POST /ai/analyze

    /// `{"studyInstanceUID": UID}` or `{"studyInstanceUIDs": [...]}` for named studies; or
    /// `{"filter": {"ModalitiesInStudy": "CT", "StudyDate": "20250101-20251231", ...}}` (QIDO
    /// study-level matching) for a batch; `"analyzers": [names]` to restrict, `"description"`.
    func analyze(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: Self.maximumBodyBytes)
        guard let json = try? JSONValue.parse(Array(buffer: body)), case .object(let members) = json else {
            throw DICOMwebError(.badRequest, "the body must be a JSON object: {\"studyInstanceUID\": ...} or {\"filter\": {...}}")
        }
        let known: Set<String> = ["studyInstanceUID", "studyInstanceUIDs", "filter", "analyzers", "description"]
        if let unknown = members.keys.first(where: { !known.contains($0) }) {
            throw DICOMwebError(.badRequest, "unknown member \"\(unknown)\"; expected \(known.sorted().joined(separator: ", "))")
        }
        var analyzerNames: [String]?
        if let names = members["analyzers"] {
            guard let list = names.arrayValue?.compactMap(\.stringValue), list.count == names.arrayValue?.count, !list.isEmpty else {
                throw DICOMwebError(.badRequest, "analyzers must be a non-empty list of analyzer names")
            }
            let configured = Set(pipeline.analyzers.flatMap { [$0.identity.name, $0.identity.reference] })
            if let missing = list.first(where: { !configured.contains($0) }) {
                throw DICOMwebError(.badRequest, "no analyzer \"\(missing)\" is configured (see GET /ai/models)")
            }
            analyzerNames = list
        }
        var studies: [String] = []
        if let uid = members["studyInstanceUID"] {
            guard let text = uid.stringValue else { throw DICOMwebError(.badRequest, "studyInstanceUID must be a string") }
            studies = [text]
        }
        if let uids = members["studyInstanceUIDs"] {
            guard let list = uids.arrayValue?.compactMap(\.stringValue), list.count == uids.arrayValue?.count else {
                throw DICOMwebError(.badRequest, "studyInstanceUIDs must be a list of strings")
            }
            studies += list
        }
        let filter = members["filter"]
        guard studies.isEmpty != (filter == nil) else {
            throw DICOMwebError(.badRequest, "name studies (studyInstanceUID, studyInstanceUIDs) or give a filter, not both and not neither")
        }
        for uid in studies where !UID.isValid(uid) { throw DICOMwebError(.badRequest, "\(uid) is not a valid UID") }

        if let filter {
            let description = members["description"]?.stringValue ?? "filter \(filter.serialized())"
            return try await analyzeBatch(filter: filter, description: description, analyzerNames: analyzerNames)
        }
        for uid in studies {   // all checked before any is queued
            var summaryFilter = StudyFilter()
            summaryFilter.studyInstanceUIDs = [uid]
            guard try await pipeline.archive.studySummaries(summaryFilter, limit: 0, offset: 0).total > 0 else {
                throw DICOMwebError(.notFound, "study \(uid) is not in the archive")
            }
        }
        var jobs: [JSONValue] = []
        for uid in studies {
            let requests = try await pipeline.enqueue(study: uid, trigger: .request, analyzerNames: analyzerNames)
            let keys = Set(requests.map(\.idempotencyKey))
            jobs += try await pipeline.archive.analysisJobs(studyInstanceUID: uid).filter { keys.contains($0.idempotencyKey) }.map(Self.json)
        }
        return Self.respond(.accepted, .object(["jobs": .array(jobs)]))
    }

    func analyzeBatch(filter: JSONValue, description: String, analyzerNames: [String]?) async throws -> Response {
        guard case .object(let criteria) = filter else { throw DICOMwebError(.badRequest, "filter must be an object of QIDO study-level keys") }
        var parameters: [(key: String, value: String)] = []
        for (key, value) in criteria.sorted(by: { $0.key < $1.key }) {
            guard let text = value.stringValue ?? (value.objectValue == nil && value.arrayValue == nil ? value.serialized() : nil) else {
                throw DICOMwebError(.badRequest, "filter.\(key) must be a string (QIDO matching syntax)")
            }
            if ["limit", "offset", "includefield"].contains(key.lowercased()) {
                throw DICOMwebError(.badRequest, "filter.\(key) is not a matching key")
            }
            parameters.append((key, text))
        }
        let batchID = UUID().uuidString.lowercased()
        var studies: [String] = []
        var offset = 0
        while studies.count < Self.maximumBatchStudies {
            var query = try QIDOQuery.parse(parameters, level: .study)
            query.limit = 1_000
            query.offset = offset
            let page = try await pipeline.archive.search(query).dataSets
            studies += page.compactMap { $0.string(.studyInstanceUID) }
            if page.count < 1_000 { break }
            offset += page.count
        }
        try await pipeline.archive.enqueueAnalyses([], batch: (batchID, description))
        for study in studies {
            try await pipeline.enqueue(study: study, trigger: .batch, analyzerNames: analyzerNames, batch: (batchID, description))
        }
        // The batch's jobs: new ones and re-opened ones (a study whose result is current adds none).
        let jobCount = try await pipeline.archive.analysisBatch(id: batchID)?.total ?? 0
        var response = Self.respond(.accepted, .object([
            "batchId": .string(batchID), "description": .string(description), "studies": .integer(studies.count),
            "jobs": .integer(jobCount), "status": .string("/ai/batches/\(batchID)"),
            "truncated": .bool(studies.count >= Self.maximumBatchStudies),
        ]))
        response.headers[.location] = "/ai/batches/\(batchID)"
        return response
    }

    // MARK: Batches

    func batch(_ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let batch = try await pipeline.archive.analysisBatch(id: id) else {
            throw DICOMwebError(.notFound, "no batch \(id)")
        }
        return Self.respond(.ok, Self.json(batch))
    }

    /// Cancels the queued jobs (running ones finish); the batch stays readable.
    func cancelBatch(_ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard try await pipeline.archive.cancelAnalysisBatch(id: id), let batch = try await pipeline.archive.analysisBatch(id: id) else {
            throw DICOMwebError(.notFound, "no batch \(id)")
        }
        return Self.respond(.ok, Self.json(batch))
    }

    // MARK: Audit

    /// `?study=&model=&version=&status=&since=&until=&limit=&offset=` (times: ISO 8601 or seconds since 1970).
    func runs(_ request: Request) async throws -> Response {
        var filter = AnalysisRunFilter()
        var limit = 100, offset = 0
        for (key, value) in try QueryString.parameters(request.uri.query) {
            switch key {
            case "study": filter.studyInstanceUID = value
            case "model", "analyzer":
                let parts = value.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                guard let name = parts.first, !name.isEmpty, parts.count == 1 || !parts[1].isEmpty else {
                    throw DICOMwebError(.badRequest, "\(key) must be NAME or NAME@VERSION, not \"\(value)\"")
                }
                filter.analyzer = name
                if parts.count == 2 { filter.analyzerVersion = parts[1] }
            case "version": filter.analyzerVersion = value
            case "status":
                guard let status = AnalysisRunStatus(rawValue: value) else {
                    throw DICOMwebError(.badRequest, "status must be one of \(AnalysisRunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                filter.status = status
            case "job":
                guard let id = Int64(value) else { throw DICOMwebError(.badRequest, "job must be a job id") }
                filter.jobID = id
            case "since": filter.startedFrom = try Self.time(value, key)
            case "until": filter.startedTo = try Self.time(value, key)
            case "limit":
                guard let number = Int(value), (1...1_000).contains(number) else { throw DICOMwebError(.badRequest, "limit must be 1 to 1000") }
                limit = number
            case "offset":
                guard let number = Int(value), number >= 0 else { throw DICOMwebError(.badRequest, "offset must be a whole number") }
                offset = number
            default:
                throw DICOMwebError(.badRequest, "unknown parameter \(key) (study, model, version, status, job, since, until, limit, offset)")
            }
        }
        let (total, runs) = try await pipeline.archive.analysisRuns(filter, limit: limit, offset: offset)
        return Self.respond(.ok, .object(["total": .integer(total), "offset": .integer(offset), "runs": .array(runs.map(Self.json))]))
    }

    func models() async throws -> Response {
        let statistics = try await pipeline.archive.analyzerStatistics()
        let models = pipeline.analyzers.map { analyzer -> JSONValue in
            let identity = analyzer.identity
            let stats = statistics.first { $0.analyzer == identity.name && $0.analyzerVersion == identity.version }
            var members: [String: JSONValue] = [
                "name": .string(identity.name), "version": .string(identity.version), "manufacturer": .string(identity.manufacturer),
                "description": .string(identity.description),
                "kind": .string(analyzer is ExternalServiceAnalyzer ? "external" : "built-in"),
                "selector": Self.json(analyzer.selector),
                "runs": .object(Dictionary(uniqueKeysWithValues: AnalysisRunStatus.allCases.map {
                    ($0.rawValue, JSONValue.integer(stats?.runsByStatus[$0] ?? 0))
                })),
                "openJobs": .integer(stats?.openJobs ?? 0),
            ]
            if let service = analyzer as? ExternalServiceAnalyzer { members["url"] = .string(service.url) }
            if let last = stats?.lastRunAt { members["lastRunAt"] = .string(Resources.instant(last)) }
            if let error = stats?.lastError { members["lastError"] = .string(error) }
            if let at = stats?.lastErrorAt { members["lastErrorAt"] = .string(Resources.instant(at)) }
            return .object(members)
        }
        return Self.respond(.ok, .object(["models": .array(models)]))
    }

    /// `?study=UID`: the study's jobs (every analyzer, every generation).
    func jobs(_ request: Request) async throws -> Response {
        let parameters = try QueryString.parameters(request.uri.query)
        guard let study = parameters.first(where: { $0.key == "study" })?.value else {
            throw DICOMwebError(.badRequest, "name the study: /ai/jobs?study=UID")
        }
        let jobs = try await pipeline.archive.analysisJobs(studyInstanceUID: study)
        return Self.respond(.ok, .object(["jobs": .array(jobs.map(Self.json))]))
    }

    /// An external service's late answer (after its 202) for job `:job`.
    func callback(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("job")
        guard let job = Int64(id), await pipeline.callbacks.isExpecting(job) else {
            throw DICOMwebError(.notFound, "job \(id) is not waiting for a callback")
        }
        let token = try QueryString.parameters(request.uri.query).first { $0.key == "token" }?.value ?? ""
        guard pipeline.callbacks.isValid(token, for: job) else {
            throw DICOMwebError(.forbidden, "the callback token does not match job \(id) (use the callbackURL of the job as sent)")
        }
        let body = try await request.body.collect(upTo: Self.maximumCallbackBytes)
        guard await pipeline.callbacks.deliver(job, body: Array(buffer: body)) else {
            throw DICOMwebError(.notFound, "job \(id) is not waiting for a callback")
        }
        return Response(status: .noContent)
    }

    // MARK: JSON

    static func respond(_ status: HTTPResponse.Status, _ json: JSONValue) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: json.serialized())))
    }

    static func time(_ text: String, _ key: String) throws -> Double {
        if let seconds = Double(text) { return seconds }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate]] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        }
        throw DICOMwebError(.badRequest, "\(key) must be an ISO 8601 time or seconds since 1970, not \"\(text)\"")
    }

    static func json(_ outputs: AnalysisOutputs?) -> JSONValue {
        guard let outputs else { return .null }
        var members: [String: JSONValue] = ["observations": .array(outputs.observationIDs.map { .string("Observation/\($0)") })]
        if let sr = outputs.srSOPInstanceUID { members["srSOPInstanceUID"] = .string(sr) }
        if let series = outputs.srSeriesInstanceUID { members["srSeriesInstanceUID"] = .string(series) }
        if let report = outputs.diagnosticReportID { members["diagnosticReport"] = .string("DiagnosticReport/\(report)") }
        if let device = outputs.deviceID { members["device"] = .string("Device/\(device)") }
        if !outputs.instanceUIDs.isEmpty { members["instances"] = .array(outputs.instanceUIDs.map { .string($0) }) }
        return .object(members)
    }

    static func json(_ job: AnalysisJob) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .integer(Int(job.id)), "idempotencyKey": .string(job.idempotencyKey), "studyInstanceUID": .string(job.studyInstanceUID),
            "generation": .integer(job.generation), "analyzer": .string(job.analyzer), "version": .string(job.analyzerVersion),
            "trigger": .string(job.trigger.rawValue), "status": .string(job.status.rawValue), "attempts": .integer(job.attempts),
            "createdAt": .string(Resources.instant(job.createdAt)), "updatedAt": .string(Resources.instant(job.updatedAt)),
        ]
        if let batch = job.batchID { members["batchId"] = .string(batch) }
        if let error = job.lastError { members["lastError"] = .string(error) }
        if job.status == .queued, job.notBefore > job.createdAt { members["notBefore"] = .string(Resources.instant(job.notBefore)) }
        if job.outputs != nil { members["outputs"] = json(job.outputs) }
        return .object(members)
    }

    static func json(_ run: AnalysisRun) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .integer(Int(run.id)), "job": .integer(Int(run.jobID)), "studyInstanceUID": .string(run.studyInstanceUID),
            "model": .string(run.analyzer), "version": .string(run.analyzerVersion), "trigger": .string(run.trigger.rawValue),
            "attempt": .integer(run.attempt), "startedAt": .string(Resources.instant(run.startedAt)),
            "runtimeSeconds": .number(String(format: "%.3f", run.runtime)), "status": .string(run.status.rawValue),
        ]
        if let reason = run.reason { members[run.status == .skipped ? "reason" : "error"] = .string(reason) }
        if run.outputs != nil { members["outputs"] = json(run.outputs) }
        return .object(members)
    }

    static func json(_ batch: AnalysisBatch) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .string(batch.id), "description": .string(batch.description), "createdAt": .string(Resources.instant(batch.createdAt)),
            "total": .integer(batch.total), "finished": .integer(batch.finished),
            "jobs": .object(Dictionary(uniqueKeysWithValues: AnalysisJobStatus.allCases.map { ($0.rawValue, JSONValue.integer(batch.jobsByStatus[$0] ?? 0)) })),
            "state": .string(batch.cancelledAt != nil ? "cancelled" : batch.finished == batch.total ? "finished" : "running"),
        ]
        if let cancelled = batch.cancelledAt { members["cancelledAt"] = .string(Resources.instant(cancelled)) }
        return .object(members)
    }

    static func json(_ selector: AnalyzerSelector) -> JSONValue {
        var members: [String: JSONValue] = ["minimumInstances": .integer(selector.minimumInstances)]
        if let modalities = selector.modalities { members["modalities"] = .array(modalities.sorted().map { .string($0) }) }
        if let parts = selector.bodyParts { members["bodyParts"] = .array(parts.sorted().map { .string($0) }) }
        if let classes = selector.sopClasses { members["sopClasses"] = .array(classes.sorted().map { .string($0) }) }
        if let pattern = selector.seriesDescriptionPattern { members["seriesDescriptionPattern"] = .string(pattern) }
        return .object(members)
    }
}
