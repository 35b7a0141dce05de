import Foundation

/// Why an analysis job exists.
public enum AnalysisTrigger: String, Sendable, Codable, CaseIterable {
    /// The durable `study.stable` event.
    case studyStable = "study.stable"
    /// `POST /ai/analyze` for one study.
    case request
    /// `POST /ai/analyze` with a filter: a retrospective batch.
    case batch
}

/// Where a job is. `queued` and `running` are open; the others are final (a failed job is
/// re-run only by asking again, which re-opens the same job: its key stays unique).
public enum AnalysisJobStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, skipped, cancelled

    public var isOpen: Bool { self == .queued || self == .running }
}

/// How one attempt ended (`GET /ai/runs`).
public enum AnalysisRunStatus: String, Sendable, Codable, CaseIterable {
    case succeeded, failed
    case timedOut = "timed-out"
    case skipped
}

/// What a succeeded job wrote, so a later run can supersede it and the audit can name it.
public struct AnalysisOutputs: Sendable, Hashable, Codable {
    public var srSeriesInstanceUID: String?
    public var srSOPInstanceUID: String?
    public var observationIDs: [String]
    public var diagnosticReportID: String?
    public var deviceID: String?
    /// Other instances the analysis returned (a SEG, say), stored through ingest.
    public var instanceUIDs: [String]

    public init(srSeriesInstanceUID: String? = nil, srSOPInstanceUID: String? = nil, observationIDs: [String] = [],
                diagnosticReportID: String? = nil, deviceID: String? = nil, instanceUIDs: [String] = []) {
        self.srSeriesInstanceUID = srSeriesInstanceUID
        self.srSOPInstanceUID = srSOPInstanceUID
        self.observationIDs = observationIDs
        self.diagnosticReportID = diagnosticReportID
        self.deviceID = deviceID
        self.instanceUIDs = instanceUIDs
    }
}

/// One unit of analysis: an analyzer (name and version) over one stable generation of a study.
public struct AnalysisJob: Sendable, Hashable {
    public let id: Int64
    /// `study|generation|analyzer@version`: unique; the result UIDs are derived from it.
    public let idempotencyKey: String
    public let studyInstanceUID: String
    public let generation: Int
    public let analyzer: String
    public let analyzerVersion: String
    public let trigger: AnalysisTrigger
    public let batchID: String?
    public let status: AnalysisJobStatus
    /// Attempts started so far (a claim counts one).
    public let attempts: Int
    /// Seconds since 1970: not to be attempted before (retries with backoff).
    public let notBefore: Double
    public let createdAt: Double
    public let updatedAt: Double
    public let lastError: String?
    public let outputs: AnalysisOutputs?

    public static func key(study: String, generation: Int, analyzer: String, version: String) -> String {
        "\(study)|\(generation)|\(analyzer)@\(version)"
    }
}

/// A job to add (nothing happens when its key exists, unless `reopenFinished`).
public struct AnalysisJobRequest: Sendable, Hashable {
    public var studyInstanceUID: String
    public var generation: Int
    public var analyzer: String
    public var analyzerVersion: String
    public var trigger: AnalysisTrigger
    public var batchID: String?
    /// For an explicit request: a job of the same key that failed, was skipped or cancelled is
    /// queued again (a succeeded one stays: its result is current).
    public var reopenFinished: Bool

    public init(studyInstanceUID: String, generation: Int, analyzer: String, analyzerVersion: String,
                trigger: AnalysisTrigger, batchID: String? = nil, reopenFinished: Bool = false) {
        self.studyInstanceUID = studyInstanceUID
        self.generation = generation
        self.analyzer = analyzer
        self.analyzerVersion = analyzerVersion
        self.trigger = trigger
        self.batchID = batchID
        self.reopenFinished = reopenFinished
    }

    public var idempotencyKey: String {
        AnalysisJob.key(study: studyInstanceUID, generation: generation, analyzer: analyzer, version: analyzerVersion)
    }
}

/// How an attempt ended, as the pipeline reports it.
public struct AnalysisAttemptOutcome: Sendable {
    public var runStatus: AnalysisRunStatus
    /// The job's status after this attempt: `queued` again for a retry, or final.
    public var jobStatus: AnalysisJobStatus
    /// For a retry: when.
    public var retryAt: Double?
    public var reason: String?
    public var outputs: AnalysisOutputs?
    public var startedAt: Double
    public var runtime: Double
    /// False for an attempt that was never made (a service's circuit was open): no run is
    /// recorded and the job gets its attempt back.
    public var recordsRun: Bool

    public init(runStatus: AnalysisRunStatus, jobStatus: AnalysisJobStatus, retryAt: Double? = nil, reason: String? = nil,
                outputs: AnalysisOutputs? = nil, startedAt: Double, runtime: Double, recordsRun: Bool = true) {
        self.recordsRun = recordsRun
        self.runStatus = runStatus
        self.jobStatus = jobStatus
        self.retryAt = retryAt
        self.reason = reason
        self.outputs = outputs
        self.startedAt = startedAt
        self.runtime = runtime
    }
}

/// One audited attempt (`GET /ai/runs`).
public struct AnalysisRun: Sendable, Hashable {
    public let id: Int64
    public let jobID: Int64
    public let studyInstanceUID: String
    public let analyzer: String
    public let analyzerVersion: String
    public let trigger: AnalysisTrigger
    public let attempt: Int
    public let startedAt: Double
    public let runtime: Double
    public let status: AnalysisRunStatus
    public let reason: String?
    public let outputs: AnalysisOutputs?
}

/// Which runs: every set field must match.
public struct AnalysisRunFilter: Sendable {
    public var studyInstanceUID: String?
    public var analyzer: String?
    public var analyzerVersion: String?
    public var status: AnalysisRunStatus?
    public var jobID: Int64?
    /// Seconds since 1970, inclusive.
    public var startedFrom: Double?
    public var startedTo: Double?
    public init() {}
}

/// Per analyzer and version: how its runs went (`GET /ai/models`).
public struct AnalyzerRunStatistics: Sendable, Hashable {
    public let analyzer: String
    public let analyzerVersion: String
    public let runsByStatus: [AnalysisRunStatus: Int]
    public let openJobs: Int
    public let lastRunAt: Double?
    public let lastError: String?
    public let lastErrorAt: Double?
}

/// A retrospective batch's progress (`GET /ai/batches/{id}`).
public struct AnalysisBatch: Sendable, Hashable {
    public let id: String
    public let createdAt: Double
    public let description: String
    public let cancelledAt: Double?
    public let jobsByStatus: [AnalysisJobStatus: Int]

    public var total: Int { jobsByStatus.values.reduce(0, +) }
    public var finished: Int { total - (jobsByStatus[.queued] ?? 0) - (jobsByStatus[.running] ?? 0) }
}

extension Archive {
    /// Adds jobs (each once per idempotency key) in one transaction. Returns how many are new
    /// or re-opened.
    @discardableResult
    public func enqueueAnalyses(_ requests: [AnalysisJobRequest], batch: (id: String, description: String)? = nil) async throws -> Int {
        try await primary.enqueueAnalyses(requests, batch: batch, now: Date().timeIntervalSince1970)
    }

    /// Up to `limit` queued jobs whose time has come, oldest first, now `running` with one more
    /// attempt (in one transaction: two workers never claim the same job).
    public func claimAnalysisJobs(limit: Int) async throws -> [AnalysisJob] {
        try await primary.claimAnalysisJobs(limit: limit, now: Date().timeIntervalSince1970)
    }

    /// After a restart: jobs left `running` by the process that stopped go back to the queue
    /// (their result UIDs are fixed by the key, so the replay rewrites the same objects), unless
    /// they have had `maximumAttempts` already (each ended with the process): those fail, with a run.
    @discardableResult
    public func requeueInterruptedAnalyses(maximumAttempts: Int = .max) async throws -> (requeued: Int, failed: Int) {
        try await primary.requeueInterruptedAnalyses(maximumAttempts: maximumAttempts, now: Date().timeIntervalSince1970)
    }

    /// The earlier generation's succeeded job this job supersedes, chosen once, at the job's
    /// first attempt, and kept: a replay names the same predecessor (so it writes the same SR).
    public func predecessorAnalysis(of job: AnalysisJob) async throws -> AnalysisJob? {
        try await primary.choosePredecessor(job: job.id)
    }

    /// Records an attempt's run and the job's new state in one transaction.
    public func finishAnalysisAttempt(job: AnalysisJob, _ outcome: AnalysisAttemptOutcome) async throws {
        try await primary.finishAnalysisAttempt(job: job, outcome, now: Date().timeIntervalSince1970)
    }

    public func analysisJob(id: Int64) async throws -> AnalysisJob? {
        try await primary.analysisJob(id: id)
    }

    public func analysisJobs(studyInstanceUID: String) async throws -> [AnalysisJob] {
        try await primary.analysisJobs(studyInstanceUID: studyInstanceUID)
    }

    /// Seconds since 1970 when the next queued job becomes due (nil: none queued).
    /// Jobs waiting and jobs being analysed now (the metrics' AI queue depth).
    public func analysisQueueDepth() async throws -> (queued: Int, running: Int) {
        try await primary.analysisQueueDepth()
    }

    public func nextAnalysisDue() async throws -> Double? {
        try await primary.nextAnalysisDue()
    }

    public func analysisRuns(_ filter: AnalysisRunFilter, limit: Int, offset: Int) async throws -> (total: Int, runs: [AnalysisRun]) {
        try await primary.analysisRuns(filter, limit: limit, offset: offset)
    }

    public func analyzerStatistics() async throws -> [AnalyzerRunStatistics] {
        try await primary.analyzerStatistics()
    }

    public func analysisBatch(id: String) async throws -> AnalysisBatch? {
        try await primary.analysisBatch(id: id)
    }

    /// Cancels the batch's queued jobs (running ones finish). False when there is no such batch.
    public func cancelAnalysisBatch(id: String) async throws -> Bool {
        try await primary.cancelAnalysisBatch(id: id, now: Date().timeIntervalSince1970)
    }

    /// The study's current stable generation (0: never stable yet).
    public func stableGeneration(studyInstanceUID: String) async throws -> Int {
        try await primary.stableGeneration(study: studyInstanceUID)
    }
}
