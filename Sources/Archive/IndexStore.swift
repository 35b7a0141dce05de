import DICOM
import Foundation

/// The derived data: what the stored files say (patients, studies, series, instances, their
/// metadata JSON and counts), kept for fast answers and rebuilt from the files by `reindex`.
/// Also the outbox of events not yet relayed to the primary store's event log: an event row must
/// commit in the same transaction as the change it reports (see `ArchiveEventLog`).
///
/// Every SQL statement lives behind this protocol (and `PrimaryStore`): `SQLiteIndex` is the
/// embedded implementation; a PostgreSQL one would be a second conformance, not a rewrite.
protocol IndexStore: Sendable {
    /// A point lookup: what the index holds for a SOP Instance UID.
    func storedInstance(sopInstanceUID: String) throws -> StoredInstance?

    /// Runs `body` in one write transaction. `committed` runs on the writer right after a
    /// successful COMMIT, before any other transaction can begin. A COMMIT that fails throws
    /// `IndexCommitFailure` (its transaction may yet be recovered at restart); any other error
    /// rolls the transaction back.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (any IndexTransaction) throws -> T,
                                  committed: @escaping @Sendable () -> Void) async throws -> T
    /// The same on the calling thread, for maintenance commands (reindex, start-up recovery).
    func transactionNow<T>(_ body: (any IndexTransaction) throws -> T) throws -> T

    // MARK: Retrieval
    /// Every instance the selector names, in series and instance number order. `pointLookup`
    /// reads on the calling thread (one instance: a bounded query).
    func storedFiles(_ selector: InstanceSelector, pointLookup: Bool) async throws -> [IndexedFile]
    /// Of each series the selector names, its middle instance then its first three.
    func representativeFiles(_ selector: InstanceSelector) async throws -> [IndexedFile]
    /// The study's validator and the files to render, in one point lookup.
    func renderingCandidates(_ selector: InstanceSelector, representativesOnly: Bool) throws -> (etag: String?, files: [IndexedFile])
    /// The study's validator (a point lookup); nil when the study is not indexed.
    func studyValidator(_ selector: InstanceSelector) throws -> String?
    /// Precomputed metadata of the selector's instances and the study's validator, read together.
    func metadata(_ selector: InstanceSelector) async throws -> (items: [[UInt8]], etag: String?)
    func metadataETag(_ selector: InstanceSelector) async throws -> String?
    /// Whether the selector's study and series exist (for not-found reasons).
    func existingLevels(_ selector: InstanceSelector) throws -> (study: Bool, series: Bool)

    // MARK: Queries
    /// A QIDO query's rows (at most the query's limit + 1, to tell truncation).
    func search(_ query: QIDOQuery) async throws -> [QIDORow]
    func studySummaries(_ filter: StudyFilter, limit: Int, offset: Int) async throws -> (total: Int, studies: [StudySummary])
    func seriesSummaries(studyInstanceUID: String) async throws -> [SeriesSummary]
    func patientSummaries(keys: [String]?, patientIDs: [String]?, limit: Int, offset: Int) async throws
        -> (total: Int, patients: [PatientSummary])
    /// Which of these Study Instance UIDs are indexed.
    func existingStudies(_ uids: Set<String>) throws -> Set<String>

    // MARK: Maintenance
    func allInstanceFiles() throws -> [(sopInstanceUID: String, path: String, size: Int, crc32: UInt32)]
    func counts() throws -> (studies: Int, series: Int, instances: Int)
    /// Size and CRC the index recorded for a stored path, nil when no row names it.
    func recordedChecksum(path: String) throws -> (size: Int, crc32: UInt32)?
    /// Instances without precomputed metadata (an older data folder), a page at a time.
    func instancesWithoutMetadata(limit: Int) throws -> [(rowID: Int64, path: String)]
    func setMetadata(_ items: [(rowID: Int64, json: [UInt8])]) throws
    /// Committed deletions' and replacements' files, of one study or all.
    func pendingDeletions(study: String?) throws -> [(id: Int64, path: String)]
    /// In one transaction: for each pending deletion whose path no instance uses any more, calls
    /// `remove` (false keeps it pending); forgets the others and the removed ones.
    func settlePendingDeletions(_ pending: [(id: Int64, path: String)], remove: (String) -> Bool) throws
    /// Drops every patient, study, series and instance row (reindex starts from nothing).
    func removeAllInstances() throws

    // MARK: Outbox
    /// Identifies this index's outbox numbering: a new index (rebuilt from nothing after its
    /// file was lost) numbers its outbox anew under a new generation.
    func outboxGeneration() throws -> String
    /// Committed outbox events after `id`, oldest first (of the kinds this version knows).
    func outboxEvents(after id: Int64, limit: Int) throws -> [OutboxEvent]
    /// The highest outbox id ever given (0 when none).
    func outboxHighWater() throws -> Int64
    /// A new generation: for an index whose outbox numbering went back (restored from a copy).
    func renewOutboxGeneration() throws -> String

    // MARK: Observations of a data folder older than the primary store
    /// Observations an older MiniVNA kept in the index, for the primary store to adopt.
    func legacyObservations() throws -> [LegacyObservation]
    func dropLegacyObservations() throws

    func close() throws
}

/// What a write transaction on the index can do (the ingest and delete paths).
protocol IndexTransaction {
    func storedInstance(_ uid: String) throws -> StoredInstance?
    /// Whether the index holds the study (any instance of it).
    func storedStudyExists(_ uid: String) throws -> Bool
    /// Inserts (or, when `replacing`, replaces) one instance and maintains patient, study and
    /// series rows and their counts.
    func insert(_ new: NewInstance, replacing: Bool) throws
    /// Removes the selector's instances (counts fixed, empty series and studies removed) and
    /// returns their SOP Instance UIDs and paths.
    func deleteInstances(_ selector: InstanceSelector) throws -> [(sopInstanceUID: String, path: String)]
    /// A file to remove once this transaction committed and no reader holds its study.
    func recordPendingDeletion(path: String, studyInstanceUID: String) throws
    /// An event, committed with the change it reports (or not at all).
    func append(_ event: OutboxEvent) throws
    /// Forgets outbox events up to `id` (already in the primary store's log).
    func forgetRelayedEvents(through id: Int64) throws
    /// `body` in a savepoint: its changes are undone when it throws, the transaction goes on.
    func savepoint(_ body: () throws -> Void) throws
}

/// A COMMIT that failed. Unlike an error before it, its transaction may yet turn out to be
/// committed: when the WAL's sync fails, the commit record may already be in the WAL file, and a
/// restart's recovery brings the rows back.
struct IndexCommitFailure: Error {
    let underlying: any Error
}

/// What the index already holds for a SOP Instance UID.
public struct StoredInstance: Sendable, Hashable {
    public let studyInstanceUID: String
    public let seriesInstanceUID: String
    public let path: String
    public let size: Int
    public let crc32: UInt32
    public let transferSyntaxUID: String
}

/// A file about to be indexed.
public struct NewInstance: Sendable {
    public let attributes: InstanceAttributes
    public let transferSyntaxUID: String
    public let path: String
    public let size: Int
    public let crc32: UInt32
    /// The instance's DICOM JSON for metadata responses (see `InstanceMetadata`).
    public let metadataJSON: [UInt8]
}

/// One indexed instance's file (path relative to the store's root).
struct IndexedFile: Sendable, Hashable {
    let studyInstanceUID: String
    let seriesInstanceUID: String
    let sopInstanceUID: String
    let sopClassUID: String
    let transferSyntaxUID: String
    let relativePath: String
    let size: Int
}

/// A QIDO result row: the selected attributes and helper columns by alias, as plain values.
struct QIDORow: Sendable {
    enum Value: Sendable {
        case text(String)
        case integer(Int64)
        case real(Double)
    }

    var values: [String: Value]

    func string(_ key: String) -> String? {
        switch values[key] {
        case .text(let text): text
        case .integer(let number): String(number)
        case .real(let number): String(number)
        case nil: nil
        }
    }

    func int(_ key: String) -> Int? {
        switch values[key] {
        case .integer(let number): Int(number)
        case .text(let text): Int(text)
        case .real(let number): Int(exactly: number)
        case nil: nil
        }
    }
}
