import Foundation

/// The primary data: what cannot be rebuilt from the stored files (client-posted Observations,
/// the event log and its consumers' cursors, studies waiting to become stable; AI jobs and runs,
/// the access audit; later reviews, subscriptions). It lives in a database file of its own (`primary.sqlite`),
/// which `reindex` never touches and `minivna backup` copies.
///
/// Every SQL statement lives behind this protocol (and `IndexStore`); `SQLitePrimaryStore` is
/// the embedded implementation.
protocol PrimaryStore: Sendable {
    // MARK: Event log
    /// Appends relayed outbox events in order, once each (an event already relayed from the same
    /// index generation is skipped), and, in the same transaction, tracks the studies they leave
    /// waiting for stability. Returns the log's latest sequence.
    func appendRelayed(_ events: [OutboxEvent], generation: String) throws -> Int64
    /// The last outbox event of `generation` in the log (0 when none).
    func relayedThrough(generation: String) throws -> Int64
    func latestSequence() throws -> Int64
    func events(after sequence: Int64, limit: Int) throws -> [ArchiveEvent]
    /// A consumer's durable cursor (0 before its first event).
    func cursor(consumer: String) throws -> Int64
    func setCursor(consumer: String, to sequence: Int64) throws

    // MARK: Study stability
    /// Seconds since 1970 of the oldest last activity among studies not yet stable.
    func oldestPendingActivity() throws -> Double?
    /// In one transaction: every study whose last activity is at or before `quietBefore`
    /// becomes stable (a `study.stable` event each, occurring at `now`) and stops waiting.
    /// Returns those studies and the log's latest sequence.
    func markStable(quietBefore: Double, now: Double) throws -> (studies: [String], latest: Int64)

    // MARK: Observations
    func observation(id: String) async throws -> ObservationRecord?
    func writeObservation(_ write: ObservationWrite) async throws -> ObservationWriteOutcome
    func deleteObservation(id: String, now: Double) async throws -> Bool
    func searchObservations(_ filter: ObservationFilter, limit: Int, offset: Int) async throws -> (total: Int, resources: [String])
    /// Every (Observation id, Study Instance UID) pair of the Observations' derivedFrom.
    func observationStudyReferences() throws -> [(observationID: String, studyInstanceUID: String)]
    /// Takes in Observations an older MiniVNA kept in the index (those it does not hold yet).
    func adopt(_ legacy: [LegacyObservation]) throws

    // MARK: Enrichment queue (see AnalysisQueue.swift)
    func enqueueAnalyses(_ requests: [AnalysisJobRequest], batch: (id: String, description: String)?, now: Double) async throws -> Int
    func claimAnalysisJobs(limit: Int, now: Double) async throws -> [AnalysisJob]
    func requeueInterruptedAnalyses(maximumAttempts: Int, now: Double) async throws -> (requeued: Int, failed: Int)
    func choosePredecessor(job: Int64) async throws -> AnalysisJob?
    func finishAnalysisAttempt(job: AnalysisJob, _ outcome: AnalysisAttemptOutcome, now: Double) async throws
    func analysisJob(id: Int64) async throws -> AnalysisJob?
    func analysisJobs(studyInstanceUID: String) async throws -> [AnalysisJob]
    func nextAnalysisDue() async throws -> Double?
    func analysisQueueDepth() async throws -> (queued: Int, running: Int)
    func analysisRuns(_ filter: AnalysisRunFilter, limit: Int, offset: Int) async throws -> (total: Int, runs: [AnalysisRun])
    func analyzerStatistics() async throws -> [AnalyzerRunStatistics]
    func analysisBatch(id: String) async throws -> AnalysisBatch?
    func cancelAnalysisBatch(id: String, now: Double) async throws -> Bool
    func stableGeneration(study: String) async throws -> Int

    // MARK: Other FHIR resources (DiagnosticReport, Device)
    func storedResource(type: String, id: String) async throws -> StoredResourceRecord?
    func writeStoredResource(type: String, id: String, values: StoredResourceValues, now: Double,
                             render: @escaping @Sendable (Int, Double) throws -> String) async throws -> StoredResourceRecord
    func searchStoredResources(_ filter: StoredResourceFilter, limit: Int, offset: Int) async throws -> (total: Int, resources: [String])

    // MARK: Access audit (see AccessAudit.swift)
    func recordAccess(_ records: [AccessRecord]) async throws
    func accessRecords(_ filter: AccessRecordFilter, limit: Int, offset: Int) async throws -> (total: Int, records: [AccessRecord])
    func pruneAccessRecords(before time: Double) async throws -> Int

    /// A consistent copy of the whole store into a new database file (SQLite's online backup).
    func backup(to path: String) throws
    func close() throws
}
