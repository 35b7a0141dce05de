import Archive
import DICOM
import Foundation
import Logging
import Metrics

/// The AI pipeline: `study.stable` events (a durable cursor, consumer "ai") and explicit
/// requests become jobs in the archive's queue (primary data, once per idempotency key); a
/// bounded number of workers claim them, run the analyzer, and write the results back through
/// the normal ingest path (an SR with origin `enrichment`, which never makes a study stable
/// again) and the FHIR store. Nothing here blocks ingest: jobs are claimed from the database,
/// heavy work runs off Swift's cooperative pool, and a failing analyzer only delays its own
/// jobs (retries with exponential backoff and jitter).
public final class EnrichmentPipeline: Sendable {
    public struct Configuration: Sendable {
        public var analyzers: [any Analyzer]
        /// Jobs run at once (each on its own worker).
        public var concurrency: Int
        /// Attempts before a job that keeps failing transiently is recorded as failed.
        public var maximumAttempts: Int
        /// First retry delay in seconds; doubled per attempt up to `retryCap`, ±50 % jitter.
        public var retryBase: Double
        public var retryCap: Double
        /// One attempt's time limit.
        public var attemptTimeout: Duration
        /// How idle workers poll the queue for due jobs.
        public var pollInterval: Duration
        /// Where external services fetch pixels and post late answers (`http://host:port`).
        public var publicOrigin: @Sendable () -> String?

        public init(analyzers: [any Analyzer], concurrency: Int = 2, maximumAttempts: Int = 4, retryBase: Double = 2,
                    retryCap: Double = 300, attemptTimeout: Duration = .seconds(300), pollInterval: Duration = .milliseconds(200),
                    publicOrigin: @escaping @Sendable () -> String? = { nil }) {
            self.analyzers = analyzers
            self.concurrency = max(1, concurrency)
            self.maximumAttempts = max(1, maximumAttempts)
            self.retryBase = retryBase
            self.retryCap = retryCap
            self.attemptTimeout = attemptTimeout
            self.pollInterval = pollInterval
            self.publicOrigin = publicOrigin
        }
    }

    public static let consumerName = "ai"
    public let archive: Archive
    public let configuration: Configuration
    let logger: Logger
    let fhir: FHIRResults
    /// Late answers of external services (202 now, a callback later), by job id.
    public let callbacks: PendingCallbacks

    public init(archive: Archive, configuration: Configuration, logger: Logger, callbacks: PendingCallbacks = PendingCallbacks()) {
        self.archive = archive
        self.callbacks = callbacks
        self.configuration = configuration
        self.logger = logger
        fhir = FHIRResults(archive: archive)
    }

    public var analyzers: [any Analyzer] { configuration.analyzers }

    /// Consumes events and runs the workers until cancelled. Jobs a killed process left
    /// running go back to the queue first.
    public func run() async throws {
        let interrupted = try await archive.requeueInterruptedAnalyses(maximumAttempts: configuration.maximumAttempts)
        if interrupted.requeued > 0 { logger.info("AI: \(interrupted.requeued) interrupted job(s) queued again") }
        if interrupted.failed > 0 { logger.warning("AI: \(interrupted.failed) job(s) failed: the process stopped during each attempt") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.consumeEvents() }
            for _ in 0..<configuration.concurrency {
                group.addTask { try await self.work() }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    // MARK: Triggers

    func consumeEvents() async throws {
        try await archive.events.consume(as: Self.consumerName) { event in
            guard event.kind == .studyStable, let generation = event.generation else { return }
            try await self.enqueue(study: event.studyInstanceUID, generation: generation, trigger: .studyStable)
        }
    }

    /// Adds a job per analyzer whose selector matches a series of the study (all configured
    /// analyzers, or those named). Returns the requests made (existing keys are not repeated,
    /// except that an explicit request re-opens a failed, skipped or cancelled job).
    @discardableResult
    public func enqueue(study: String, generation: Int? = nil, trigger: AnalysisTrigger, analyzerNames: [String]? = nil,
                        batch: (id: String, description: String)? = nil) async throws -> [AnalysisJobRequest] {
        let series = try await analysableSeries(study: study)
        let current = try await archive.stableGeneration(studyInstanceUID: study)
        let generation = generation ?? current
        let requests = analyzers.filter { analyzer in
            (analyzerNames.map { $0.contains(analyzer.identity.name) || $0.contains(analyzer.identity.reference) } ?? true)
                && series.contains(where: analyzer.selector.matches)
        }.map { analyzer in
            AnalysisJobRequest(studyInstanceUID: study, generation: generation, analyzer: analyzer.identity.name,
                               analyzerVersion: analyzer.identity.version, trigger: trigger, batchID: batch?.id,
                               reopenFinished: trigger != .studyStable)
        }
        if !requests.isEmpty || batch != nil { try await archive.enqueueAnalyses(requests, batch: batch) }
        return requests
    }

    /// The study's series without the archive's own results (SRs and objects earlier jobs wrote).
    func analysableSeries(study: String) async throws -> [SeriesSummary] {
        let jobs = try await archive.analysisJobs(studyInstanceUID: study)
        var ownSeries = Set<String>(), ownInstances = Set<String>()
        for outputs in jobs.compactMap(\.outputs) {
            if let series = outputs.srSeriesInstanceUID { ownSeries.insert(series) }
            if let sop = outputs.srSOPInstanceUID { ownInstances.insert(sop) }
            ownInstances.formUnion(outputs.instanceUIDs)
        }
        for analyzer in analyzers { ownSeries.insert(ResultUIDs.seriesUID(study: study, analyzer: analyzer.identity)) }
        return try await archive.seriesSummaries(studyInstanceUID: study).filter { series in
            !ownSeries.contains(series.seriesInstanceUID) && !series.instances.allSatisfy { ownInstances.contains($0.sopInstanceUID) }
        }
    }

    // MARK: Workers

    func work() async throws {
        while !Task.isCancelled {
            let now = Date().timeIntervalSince1970
            if let due = try await archive.nextAnalysisDue(), due <= now,
               let job = try await archive.claimAnalysisJobs(limit: 1).first {
                await process(job)
                continue
            }
            try await Task.sleep(for: configuration.pollInterval)
        }
    }

    /// One attempt, recorded as a run; the job is finished, retried later, or (on shutdown)
    /// left running for the next start to queue again.
    func process(_ job: AnalysisJob) async {
        let started = Date().timeIntervalSince1970
        var outcome: AnalysisAttemptOutcome
        do {
            let outputs = try await attempt(job)
            outcome = .init(runStatus: .succeeded, jobStatus: .succeeded, outputs: outputs, startedAt: started,
                            runtime: Date().timeIntervalSince1970 - started)
        } catch {
            // Shutdown: the job stays running and is queued again at the next start.
            if Task.isCancelled { return }
            let failure = error as? AnalysisFailure ?? .transient("\(error)")
            let runtime = Date().timeIntervalSince1970 - started
            switch failure {
            case .deferred(let until, let reason):
                outcome = .init(runStatus: .skipped, jobStatus: .queued, retryAt: until + Double.random(in: 0...1), reason: reason,
                                startedAt: started, runtime: runtime, recordsRun: false)
            case .notApplicable(let reason):
                outcome = .init(runStatus: .skipped, jobStatus: .skipped, reason: reason, startedAt: started, runtime: runtime)
            case .permanent(let reason):
                outcome = .init(runStatus: .failed, jobStatus: .failed, reason: reason, startedAt: started, runtime: runtime)
            case .transient(let reason), .timedOut(let reason):
                let status: AnalysisRunStatus = if case .timedOut = failure { .timedOut } else { .failed }
                if job.attempts < configuration.maximumAttempts {
                    let delay = min(configuration.retryCap, configuration.retryBase * pow(2, Double(job.attempts - 1)))
                        * Double.random(in: 0.5...1.5)
                    outcome = .init(runStatus: status, jobStatus: .queued, retryAt: Date().timeIntervalSince1970 + delay,
                                    reason: "\(reason) (attempt \(job.attempts) of \(configuration.maximumAttempts); retry in \(Int(delay.rounded())) s)",
                                    startedAt: started, runtime: runtime)
                } else {
                    outcome = .init(runStatus: status, jobStatus: .failed,
                                    reason: "\(reason) (attempt \(job.attempts) of \(configuration.maximumAttempts): giving up)",
                                    startedAt: started, runtime: runtime)
                }
            }
        }
        // Runs by analyzer and status, with their durations (`/metrics`).
        Timer(label: "minivna_ai_run_duration", dimensions: [("analyzer", "\(job.analyzer)@\(job.analyzerVersion)"),
                                                             ("status", outcome.runStatus.rawValue)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(Int64(outcome.runtime * 1e9))
        do {
            try await archive.finishAnalysisAttempt(job: job, outcome)
            let level: Logger.Level = outcome.runStatus == .succeeded || outcome.runStatus == .skipped ? .info : .warning
            let reason = outcome.reason.map { ": \($0)" } ?? ""
            logger.log(level: level, "AI \(job.analyzer)@\(job.analyzerVersion) on \(job.studyInstanceUID): \(outcome.runStatus.rawValue)\(reason)")
        } catch {
            logger.error("AI: recording the run of job \(job.id) failed: \(error)")
        }
    }

    func attempt(_ job: AnalysisJob) async throws -> AnalysisOutputs {
        guard let analyzer = analyzers.first(where: { $0.identity.name == job.analyzer && $0.identity.version == job.analyzerVersion }) else {
            throw AnalysisFailure.notApplicable("\(job.analyzer)@\(job.analyzerVersion) is not configured")
        }
        if job.trigger == .studyStable {
            let current = try await archive.stableGeneration(studyInstanceUID: job.studyInstanceUID)
            if current > job.generation {
                throw AnalysisFailure.notApplicable("the study changed: generation \(current) replaces \(job.generation)")
            }
        }
        var filter = StudyFilter()
        filter.studyInstanceUIDs = [job.studyInstanceUID]
        guard let study = try await archive.studySummaries(filter, limit: 1, offset: 0).studies.first else {
            throw AnalysisFailure.notApplicable("the study is no longer in the archive")
        }
        let allSeries = try await analysableSeries(study: job.studyInstanceUID)
        let selected = allSeries.filter(analyzer.selector.matches)
        guard !selected.isEmpty else { throw AnalysisFailure.notApplicable("no series matches the analyzer's selector") }
        let origin = configuration.publicOrigin()
        let input = StudyInput(study: study, series: selected, allSeries: allSeries, job: job, archive: archive,
                               dicomWebBaseURL: origin.map { $0 + "/dicom-web" },
                               callbackURL: origin.map { $0 + "/ai/callbacks/\(job.id)?token=\(callbacks.token(for: job.id))" })
        var result = try await withTimeout(configuration.attemptTimeout, job: job) { try await analyzer.analyze(input) }
        guard !result.groups.isEmpty else { throw AnalysisFailure.notApplicable("the analysis found nothing to report") }
        // The study may have changed while the analysis ran (whatever asked for it): the later
        // generation's result is the current one.
        let current = try await archive.stableGeneration(studyInstanceUID: job.studyInstanceUID)
        if current > job.generation {
            throw AnalysisFailure.notApplicable("the study changed during the analysis: generation \(current) replaces \(job.generation)")
        }
        try Self.check(&result)
        return try await store(result, of: job, analyzer: analyzer.identity, study: study, series: selected, input: input)
    }

    /// SR, other instances and FHIR resources, in that order: each step is idempotent, so a
    /// crash anywhere is repaired by the replay.
    func store(_ result: AnalysisResult, of job: AnalysisJob, analyzer: AnalyzerIdentity, study: StudySummary,
               series: [SeriesSummary], input: StudyInput) async throws -> AnalysisOutputs {
        guard let first = series.first, let file = try await input.files(of: first).first else {
            throw AnalysisFailure.notApplicable("the series has no instances left")
        }
        let header = try input.header(file)
        let previous = try await archive.predecessorAnalysis(of: job)?.outputs
        var modalities: [String: String] = [:]
        for summary in allSeriesFor(result, input) { modalities[summary.seriesInstanceUID] = summary.modality }
        let report = try MeasurementReportBuilder().build(.init(
            analyzer: analyzer, job: job, result: result, studyHeader: header, seriesModalities: modalities,
            predecessor: previous.flatMap { outputs in
                outputs.srSeriesInstanceUID.flatMap { series in outputs.srSOPInstanceUID.map { (series, $0) } }
            }))
        let problems = MeasurementReportValidator().validate(report.dataSet)
        guard problems.isEmpty else {
            throw AnalysisFailure.permanent("the SR failed validation: " + problems.prefix(5).map(\.description).joined(separator: "; "))
        }
        // The job's own objects replace their earlier version (an external service may answer a
        // retry differently): UIDs are the job's, so nothing else is ever replaced.
        let context = IngestContext(origin: .enrichment, principal: analyzer.reference, duplicatePolicy: .replace)
        do {
            _ = try await archive.ingest(bytes: report.bytes, context: context, expectedStudyInstanceUID: job.studyInstanceUID)
        } catch let error as ArchiveError {
            throw Self.failure(error, "the archive refused the SR")
        }
        var instanceUIDs: [String] = []
        for (index, bytes) in result.instances.enumerated() {
            do {
                let stored = try await archive.ingest(bytes: bytes, context: context, expectedStudyInstanceUID: job.studyInstanceUID)
                instanceUIDs.append(stored.sopInstanceUID)
            } catch let error as ArchiveError {
                throw Self.failure(error, "the archive refused returned instance \(index + 1)")
            }
        }
        let written = try await fhir.write(.init(analyzer: analyzer, job: job, study: study, report: report, result: result,
                                                 dicomWebBaseURL: input.dicomWebBaseURL))
        if let previous { try await fhir.markSuperseded(previous, by: written.diagnosticReportID) }
        // A later generation that finished first keeps the current result: this one is marked.
        if let later = try await archive.analysisJobs(studyInstanceUID: job.studyInstanceUID).first(where: {
            $0.analyzer == job.analyzer && $0.analyzerVersion == job.analyzerVersion && $0.generation > job.generation
                && $0.status == .succeeded
        }), let laterReport = later.outputs?.diagnosticReportID {
            try await fhir.markSuperseded(AnalysisOutputs(observationIDs: written.observationIDs, diagnosticReportID: written.diagnosticReportID,
                                                          deviceID: written.deviceID), by: laterReport)
        }
        return AnalysisOutputs(srSeriesInstanceUID: report.seriesInstanceUID, srSOPInstanceUID: report.sopInstanceUID,
                               observationIDs: written.observationIDs, diagnosticReportID: written.diagnosticReportID,
                               deviceID: written.deviceID, instanceUIDs: instanceUIDs)
    }

    /// Makes a result safe to encode: tracking identifiers unique within it (they name the
    /// Observation UIDs and FHIR ids), every value finite.
    static func check(_ result: inout AnalysisResult) throws {
        var seen: [String: Int] = [:]
        for index in result.groups.indices {
            let identifier = result.groups[index].trackingIdentifier.trimmingCharacters(in: .whitespaces)
            guard !identifier.isEmpty else { throw AnalysisFailure.permanent("group \(index + 1) has no tracking identifier") }
            let count = seen[identifier, default: 0] + 1
            seen[identifier] = count
            if count > 1 {
                let suffix = " #\(count)"
                result.groups[index].trackingIdentifier = String(identifier.prefix(64 - suffix.count)) + suffix
            }
            for measurement in result.groups[index].measurements where !measurement.value.isFinite {
                throw AnalysisFailure.permanent("\(identifier): \(measurement.concept.meaning) is not a finite number")
            }
            if let confidence = result.groups[index].confidence, !(0...1).contains(confidence) {
                throw AnalysisFailure.permanent("\(identifier): confidence \(confidence) is not between 0 and 1")
            }
        }
    }

    /// A storage failure (a full disk) may pass; a refused instance will not.
    static func failure(_ error: ArchiveError, _ what: String) -> AnalysisFailure {
        error.code == .storage ? .transient("\(what): \(error.reason)") : .permanent("\(what): \(error.reason)")
    }

    private func allSeriesFor(_ result: AnalysisResult, _ input: StudyInput) -> [SeriesSummary] {
        let referenced = Set(result.groups.flatMap { $0.references }.map { $0.seriesInstanceUID })
        return input.allSeries.filter { referenced.contains($0.seriesInstanceUID) }
    }

    func withTimeout<T: Sendable>(_ limit: Duration, job: AnalysisJob, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw AnalysisFailure.timedOut("no result within \(limit.components.seconds) s")
            }
            return value
        }
    }
}

/// Runs CPU-heavy work on a dispatch queue, off Swift's cooperative pool (as many threads as
/// cores): an analysis of a large series must not hold a thread the HTTP server's requests need.
enum Offload {
    private static let queue = DispatchQueue(label: "minivna.enrichment.compute", qos: .utility, attributes: .concurrent)

    /// Set when the task that waits is cancelled (a timeout, shutdown): `body` checks it
    /// between pieces of work and stops early.
    final class Cancellation: @unchecked Sendable {
        private let lock = NSLock()
        private var cancelled = false
        func cancel() { lock.withLock { cancelled = true } }
        func check() throws { if lock.withLock({ cancelled }) { throw CancellationError() } }
    }

    static func run<T: Sendable>(_ body: @escaping @Sendable (Cancellation) throws -> T) async throws -> T {
        let cancellation = Cancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.async { continuation.resume(with: Result { try body(cancellation) }) }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }
}
