import DICOM
import Foundation
import Logging
import Synchronization

/// What to do when an instance arrives again with the same SOP Instance UID but other content.
public enum DuplicatePolicy: String, Sendable, CaseIterable {
    /// Keep the stored instance and refuse the new one (the default: nothing acknowledged is ever lost).
    case reject
    /// Replace the stored file and its index row.
    case replace
}

public struct ArchiveConfiguration: Sendable {
    public var dataDirectory: URL
    public var duplicatePolicy: DuplicatePolicy
    /// A study is stable after this long without a new instance.
    public var studyQuietPeriod: Duration
    /// Inflater for Deflated Explicit VR Little Endian instances (`Imaging.ZlibDeflate`).
    public var inflater: (any DeflateDecoding)?
    /// Storage policy applied to each valid incoming instance before it is stored (e.g.
    /// `Imaging.JPEG2000LosslessStorage`); nil (the default) stores instances as received.
    public var storageTranscoder: (any Part10Transcoding)?

    public init(dataDirectory: URL, duplicatePolicy: DuplicatePolicy = .reject, studyQuietPeriod: Duration = .seconds(10),
                inflater: (any DeflateDecoding)? = nil, storageTranscoder: (any Part10Transcoding)? = nil) {
        self.dataDirectory = dataDirectory
        self.duplicatePolicy = duplicatePolicy
        self.studyQuietPeriod = studyQuietPeriod
        self.inflater = inflater
        self.storageTranscoder = storageTranscoder
    }
}

/// The outcome of storing one instance.
public struct IngestResult: Sendable, Hashable {
    public enum Outcome: String, Sendable {
        case stored
        /// The identical instance was already stored (idempotent success).
        case alreadyStored
        /// Different content replaced the stored instance (policy `replace`).
        case replaced
    }

    public let sopClassUID: String
    public let sopInstanceUID: String
    public let seriesInstanceUID: String
    public let studyInstanceUID: String
    public let transferSyntaxUID: String
    public let outcome: Outcome
}

/// The archive: a file store, the index of what the files say (derived data) and the primary
/// store (data that cannot be rebuilt), composed. Every way in (STOW, import, DIMSE, AI results)
/// goes through `ingest`; queries go through `search`; changes are reported in `events`.
public final class Archive: Sendable {
    public let configuration: ArchiveConfiguration
    public let store: FileBlobStore
    /// Derived data (`index.sqlite`), rebuilt by `reindex`.
    let index: any IndexStore
    /// Primary data (`primary.sqlite`), never touched by `reindex`.
    let primary: any PrimaryStore
    /// The durable event log and its consumers' cursors.
    public let events: ArchiveEventLog
    let journal: IngestJournal
    /// Studies being streamed (see `withReadLease`).
    let leases = ReadLeases()
    /// Concurrent ingests' index transactions, batched (see `commit(_:)`).
    private let commits = GroupCommit<PreparedInstance, Result<IngestResult.Outcome, ArchiveError>>()
    /// One process at a time in the data folder (see `DataFolderLock`); released with the archive.
    private let lock: Mutex<DataFolderLock?>

    /// The primary store's file in a data folder (what `minivna backup` copies).
    public static let primaryStoreFileName = "primary.sqlite"

    /// Opens (or creates) the data folder: `files/`, `tmp/`, `index.sqlite` and `primary.sqlite`.
    /// Throws when another process has it open.
    public init(configuration: ArchiveConfiguration) throws {
        self.configuration = configuration
        try FileManager.default.createDirectory(at: configuration.dataDirectory, withIntermediateDirectories: true)
        lock = Mutex(try DataFolderLock(directory: configuration.dataDirectory))
        store = try FileBlobStore(root: configuration.dataDirectory)
        index = try SQLiteIndex(path: configuration.dataDirectory.appendingPathComponent("index.sqlite").path)
        primary = try SQLitePrimaryStore(path: configuration.dataDirectory.appendingPathComponent(Self.primaryStoreFileName).path)
        events = try ArchiveEventLog(index: index, primary: primary)
        journal = try IngestJournal(url: configuration.dataDirectory.appendingPathComponent("ingest.journal"))
        try adoptLegacyObservations()
        try recoverInterruptedIngests()
        try removeFilesOfCommittedDeletions()
        try fillMissingMetadata()
        try events.relay()
    }

    /// A data folder from before the primary store kept its Observations in the index: they move
    /// to the primary store (copied first, then dropped from the index), so a lost index can no
    /// longer take them with it.
    private func adoptLegacyObservations() throws {
        let legacy = try index.legacyObservations()
        guard !legacy.isEmpty else { return }
        try primary.adopt(legacy)
        try index.dropLegacyObservations()
    }

    /// Closes the index (SQLite checkpoints the WAL into the database) and releases the data
    /// folder: the last step of a graceful shutdown, once no request uses the archive.
    public func close() throws {
        try? events.relay()
        try index.close()
        try primary.close()
        releaseDataFolderLock()
    }

    /// Lets another `Archive` open the data folder while this one still exists (tests that
    /// simulate a restart; a process releases it by ending).
    func releaseDataFolderLock() {
        lock.withLock { $0 = nil }
    }

    /// After a crash: the paths the journal's last transaction recorded are files moved into
    /// place by an ingest whose index transaction may not have committed; such a file was never
    /// acknowledged. Then every leftover upload in `tmp/` is removed.
    func recoverInterruptedIngests() throws {
        try reconcile(relativePaths: IngestJournal.pathsOfLastTransaction(at: journal.url))
        try journal.reset()
        let tmp = store.temporaryDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? [] {
            unlink(tmp.appendingPathComponent(name).path)
        }
    }

    /// Makes files that an uncommitted transaction moved into place agree with the index: without
    /// a row the file is removed; with a row that no longer describes it (a replacement written
    /// over the stored file, as versions before replacements had files of their own did) the row
    /// is rebuilt from the file.
    func reconcile(relativePaths: [String]) throws {
        for path in relativePaths {
            let url = store.url(forRelativePath: path)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            if let row = try index.recordedChecksum(path: path) {
                if let (size, crc) = try? Self.sizeAndChecksum(of: url), size != row.size || crc != row.crc32 {
                    try? reindexFile(relativePath: path)
                }
            } else {
                unlink(url.path)
            }
        }
    }

    /// Replaces whatever the index says about one stored file with what the file says.
    func reindexFile(relativePath path: String) throws {
        let new = try indexEntry(forStoredFile: path)
        try index.transactionNow { transaction in try transaction.insert(new, replacing: true) }
    }

    /// What the index should say about a stored file, read from the file alone.
    func indexEntry(forStoredFile path: String) throws -> NewInstance {
        let url = store.url(forRelativePath: path)
        let file = try Part10Reader.read(path: url.path, options: readOptions(.indexing))
        let attributes = try InstanceAttributes(file.dataSet)
        let (size, crc) = try Self.sizeAndChecksum(of: url)
        return NewInstance(attributes: attributes, transferSyntaxUID: file.transferSyntaxUID,
                                        path: path, size: size, crc32: crc,
                                        metadataJSON: try InstanceMetadata.encode(file.dataSet, file: url.path, study: attributes.studyInstanceUID,
                                            series: attributes.seriesInstanceUID, instance: attributes.sopInstanceUID))
    }

    /// Stores bytes (a whole Part 10 file).
    public func ingest(bytes: [UInt8], context: IngestContext, expectedStudyInstanceUID: String? = nil) async throws -> IngestResult {
        let staged = try store.writeTemporary(bytes)
        return try await ingest(stagedFiles: [staged], context: context, expectedStudyInstanceUID: expectedStudyInstanceUID)[0].get()
    }

    /// Stores several files (one STOW request) in one index transaction (shared with concurrent
    /// requests: see `GroupCommit`): each instance succeeds or fails on its own (a savepoint
    /// each), and all that succeeded are durable when this returns. Takes ownership of every
    /// file: each is moved into place or removed. Each stored or replaced instance's event is
    /// written in the same transaction, with the context (an identical re-send has none).
    public func ingest(stagedFiles: [StagedFile], context: IngestContext,
                       expectedStudyInstanceUID: String? = nil) async -> [Result<IngestResult, ArchiveError>] {
        var results: [Result<IngestResult, ArchiveError>?] = Array(repeating: nil, count: stagedFiles.count)
        var prepared: [(index: Int, item: PreparedInstance)] = []
        for (index, file) in stagedFiles.enumerated() {
            do {
                prepared.append((index, try prepare(file, context: context, expectedStudyInstanceUID: expectedStudyInstanceUID)))
            } catch {
                results[index] = .failure(error as? ArchiveError ?? ArchiveError(.storage, "\(error)"))
            }
        }
        let outcomes: [Result<IngestResult.Outcome, ArchiveError>]
        do {
            // Data first: a file has its final name only once it is whole on stable storage, so
            // not even a power cut leaves a partial file where an instance belongs.
            try store.makeDurable(prepared.map(\.item.temporaryFile.path))
            outcomes = prepared.isEmpty ? [] : await commits.submit(prepared.map(\.item)) { batch in await self.commit(batch) }
        } catch {
            let failure = error as? ArchiveError ?? ArchiveError(.storage, "\(error)")
            outcomes = prepared.map { _ in .failure(failure) }
        }
        for (_, item) in prepared { if let received = item.receivedFile { unlink(received.path) } }
        for ((index, item), outcome) in zip(prepared, outcomes) {
            switch outcome {
            case .success(let kind):
                if kind == .alreadyStored { unlink(item.temporaryFile.path) }
                let a = item.attributes
                results[index] = .success(IngestResult(sopClassUID: a.sopClassUID, sopInstanceUID: a.sopInstanceUID,
                                                       seriesInstanceUID: a.seriesInstanceUID, studyInstanceUID: a.studyInstanceUID,
                                                       transferSyntaxUID: item.transferSyntaxUID, outcome: kind))
            case .failure(let error):
                unlink(item.temporaryFile.path)
                results[index] = .failure(error)
            }
        }
        return results.map { $0! }
    }

    /// An instance read and validated, ready for the index transaction.
    struct PreparedInstance: Sendable {
        let temporaryFile: URL
        /// The file as received, when a storage policy re-encoded it into `temporaryFile`.
        let receivedFile: URL?
        let attributes: InstanceAttributes
        let transferSyntaxUID: String
        let new: NewInstance
        let context: IngestContext
    }

    /// Reads the whole structure (large values and fragments only bounds-checked, so a truncated
    /// instance is refused rather than acknowledged) and validates what the archive requires.
    /// Takes ownership of `staged`: on a throw, whichever temporary file it left behind is removed
    /// (the received one, or the re-encoded one that replaced it).
    func prepare(_ staged: StagedFile, context: IngestContext, expectedStudyInstanceUID: String?) throws -> PreparedInstance {
        var temporaryFile = staged.url
        var receivedFile: URL?
        var sizeAndCRC32 = staged.sizeAndCRC32
        var file: Part10File
        do {
            file = try Part10Reader.read(path: temporaryFile.path, options: readOptions(.indexing))
        } catch {
            unlink(temporaryFile.path)
            throw (error as? DICOMParseError).map(ArchiveError.init) ?? ArchiveError(.storage, "\(error)")
        }
        do {
            guard file.hasPreamble, !file.fileMetaInformation.isEmpty else {
                throw ArchiveError(.cannotUnderstand, "not a DICOM Part 10 file: the preamble, \"DICM\" or file meta information is missing")
            }
            guard TransferSyntax(uid: file.transferSyntaxUID) != nil else {
                throw ArchiveError(.invalidInstance, "unknown transfer syntax \(file.transferSyntaxUID)", subject: file.transferSyntaxUID)
            }
            let attributes = try InstanceAttributes(file.dataSet)
            if let metaUID = file.fileMetaInformation.string(.mediaStorageSOPInstanceUID), !metaUID.isEmpty,
               metaUID != attributes.sopInstanceUID {
                throw ArchiveError(.invalidInstance,
                    "Media Storage SOP Instance UID \(metaUID) differs from SOP Instance UID \(attributes.sopInstanceUID)")
            }
            if let expected = expectedStudyInstanceUID, expected != attributes.studyInstanceUID {
                throw ArchiveError(.studyMismatch,
                    "instance belongs to study \(attributes.studyInstanceUID), not \(expected)", subject: attributes.studyInstanceUID)
            }
            // The storage policy runs on valid instances only. The received file is kept until
            // the transaction ends: a resend of an instance stored before the policy applied (or
            // when it failed) is recognised by those bytes.
            if let transcoder = configuration.storageTranscoder,
               let replacement = try? storageTranscoded(file, path: temporaryFile.path, transcoder) {
                receivedFile = temporaryFile
                (temporaryFile, file, sizeAndCRC32) = (replacement.staged.url, replacement.file, replacement.staged.sizeAndCRC32)
            }
            let (size, crc) = try sizeAndCRC32 ?? Self.sizeAndChecksum(of: temporaryFile)
            let path = FileBlobStore.relativePath(forSOPInstanceUID: attributes.sopInstanceUID)
            return PreparedInstance(
                temporaryFile: temporaryFile, receivedFile: receivedFile, attributes: attributes, transferSyntaxUID: file.transferSyntaxUID,
                new: NewInstance(attributes: attributes, transferSyntaxUID: file.transferSyntaxUID,
                                              path: path, size: size, crc32: crc,
                                              metadataJSON: try InstanceMetadata.encode(file.dataSet, file: temporaryFile.path, study: attributes.studyInstanceUID,
                                                  series: attributes.seriesInstanceUID, instance: attributes.sopInstanceUID)),
                context: context)
        } catch {
            unlink(temporaryFile.path)
            if let receivedFile { unlink(receivedFile.path) }
            let failure = error as? ArchiveError ?? (error as? DICOMParseError).map(ArchiveError.init) ?? ArchiveError(.storage, "\(error)")
            throw failure.about(sopClassUID: file.dataSet.string(.sopClassUID), sopInstanceUID: file.dataSet.string(.sopInstanceUID))
        }
    }

    /// The storage policy's re-encoding of a received file, written piece by piece to a new
    /// temporary file (made durable with the rest by `ingest`) and read back; nil when the policy
    /// keeps the file as received. A failing policy is the caller's cue to store the instance as
    /// received: a codec never costs an instance. Whatever happens, no partial file is left behind.
    private func storageTranscoded(_ file: Part10File, path: String, _ transcoder: any Part10Transcoding) throws
        -> (staged: StagedFile, file: Part10File)? {
        let writer = try store.temporaryWriter()
        do {
            var source = file
            source.sourcePath = source.sourcePath ?? path
            guard try transcoder.transcode(source, path: path, write: { try writer.append($0) }) else {
                writer.discard()
                return nil
            }
            let staged = try writer.finish()
            do {
                return (staged, try Part10Reader.read(path: staged.url.path, options: readOptions(.indexing)))
            } catch {
                unlink(staged.url.path)
                throw error
            }
        } catch {
            writer.discard()
            throw error
        }
    }

    /// One index transaction for a batch of submissions (each a request's instances, their data
    /// already durable): a savepoint per instance (which moves its file into place), then one
    /// barrier that makes every folder entry that changed durable, then the commit. Beyond each
    /// request's own data barrier, a batch costs two device flushes (folders, the WAL's sync)
    /// whatever its size. Every instance of the batch fails when the transaction fails: before
    /// the commit, files and index are put back in agreement. A COMMIT that fails may yet be
    /// recovered at restart (`IndexCommitFailure`): removing the files could leave rows without
    /// files, so they stay, no instance is acknowledged until a restart, and start-up recovery
    /// reconciles the files the journal names with whatever SQLite recovered.
    func commit(_ batch: [[PreparedInstance]]) async -> [[Result<IngestResult.Outcome, ArchiveError>]] {
        let (store, journal, policy) = (self.store, self.journal, configuration.duplicatePolicy)
        let relayedThrough = events.relayedThrough.load(ordering: .relaxed)
        let prune = relayedThrough > events.prunedThrough.load(ordering: .relaxed)
        do {
            let applied = try await index.transaction({ transaction in
                if prune { try transaction.forgetRelayedEvents(through: relayedThrough) }
                return try Self.applyBatch(batch, policy: policy, store: store, journal: journal, transaction)
            }, committed: { journal.committed() })
            if prune { events.prunedThrough.store(relayedThrough, ordering: .relaxed) }
            // Not on the way to the response: the events go to the log, the replaced files away.
            if applied.changed { events.relaySoon() }
            if !applied.replacedInStudies.isEmpty {
                Task { [self] in for study in applied.replacedInStudies { await removeDeletedFilesWhenUnread(study: study) } }
            }
            return applied.outcomes
        } catch let error as IndexCommitFailure {
            let reason = "the index commit failed (\(error.underlying)): no instance is acknowledged until MiniVNA is restarted"
            store.refuseFurtherIngests(because: reason)
            Logger(label: "minivna.archive").critical("\(reason)")
            return batch.map { items in items.map { _ in .failure(ArchiveError(.storage, reason)) } }
        } catch {
            // The journal's last section names every file this transaction moved into place
            // (replacements included, under their own names).
            try? reconcile(relativePaths: IngestJournal.pathsOfLastTransaction(at: journal.url))
            let failure = ArchiveError(.storage, "the index transaction failed: \(error)")
            return batch.map { items in items.map { _ in .failure(failure) } }
        }
    }

    /// Inside the batch's transaction: the journal's marker, each instance in a savepoint of its
    /// own, then the barrier for the folders whose entries changed.
    /// Also returns the studies whose replaced files wait for removal after the commit.
    private static func applyBatch(_ batch: [[PreparedInstance]], policy: DuplicatePolicy, store: FileBlobStore, journal: IngestJournal,
                                   _ transaction: any IndexTransaction) throws
        -> (outcomes: [[Result<IngestResult.Outcome, ArchiveError>]], replacedInStudies: Set<String>, changed: Bool) {
        // Refused before the journal's marker: after a failed commit, the journal's last section
        // must stay the one that names its files, for start-up recovery.
        try store.checkAcceptingIngests()
        try journal.beginTransaction()
        var movedInto = Set<String>()
        var replacedInStudies = Set<String>()
        var changed = false
        let now = Date().timeIntervalSince1970
        let outcomes = batch.map { items in
            items.map { item -> Result<IngestResult.Outcome, ArchiveError> in
                do {
                    var outcome = IngestResult.Outcome.stored
                    try transaction.savepoint {
                        let applied = try Self.apply(item, policy: item.context.duplicatePolicy ?? policy, store: store, journal: journal,
                                                     at: now, transaction)
                        outcome = applied.outcome
                        if let folder = applied.folder { movedInto.insert(folder) }
                        if let study = applied.replacedInStudy { replacedInStudies.insert(study) }
                        if outcome != .alreadyStored { changed = true }
                    }
                    return .success(outcome)
                } catch {
                    let failure = error as? ArchiveError ?? ArchiveError(.storage, "index: \(error)")
                    return .failure(failure.about(sopClassUID: item.attributes.sopClassUID, sopInstanceUID: item.attributes.sopInstanceUID))
                }
            }
        }
        try store.makeDurable(movedInto)
        return (outcomes, replacedInStudies, changed)
    }

    /// One instance inside the index transaction: duplicate policy, rows and event, journal,
    /// rename. Rows and event first (nothing that can fail comes after the file has its final
    /// name), then the rename, then (the caller's) barrier and commit: a crash before the
    /// commit leaves a file named in the journal, which start-up recovery removes. A replacement
    /// gets a file of its own (`FileBlobStore.replacementPath`) and the stored file is recorded
    /// for removal in the same transaction (as a delete does): until the commit, the stored
    /// instance is untouched, so a replacement that fails, or is interrupted, leaves it as it was.
    /// Returns the outcome and the folder whose entry changed (nil when nothing was moved).
    static func apply(_ item: PreparedInstance, policy: DuplicatePolicy, store: FileBlobStore, journal: IngestJournal,
                      at now: Double, _ transaction: any IndexTransaction) throws -> (outcome: IngestResult.Outcome, folder: String?, replacedInStudy: String?) {
        var new = item.new
        var outcome = IngestResult.Outcome.stored
        var replacedInStudy: String?
        if let existing = try transaction.storedInstance(new.attributes.sopInstanceUID) {
            let stored = store.url(forRelativePath: existing.path)
            if existing.size == new.size, existing.crc32 == new.crc32, try sameBytes(stored, item.temporaryFile) {
                return (.alreadyStored, nil, nil)
            }
            if let received = item.receivedFile, try sameBytes(stored, received) {
                return (.alreadyStored, nil, nil)   // stored as received earlier (policy off then, or it failed)
            }
            guard policy == .replace else {
                throw ArchiveError(.conflict,
                    "SOP Instance UID \(new.attributes.sopInstanceUID) is already stored with different content",
                    subject: new.attributes.sopInstanceUID)
            }
            outcome = .replaced
            new = NewInstance(attributes: new.attributes, transferSyntaxUID: new.transferSyntaxUID,
                              path: FileBlobStore.replacementPath(forSOPInstanceUID: new.attributes.sopInstanceUID),
                              size: new.size, crc32: new.crc32, metadataJSON: new.metadataJSON)
            try transaction.recordPendingDeletion(path: existing.path, studyInstanceUID: existing.studyInstanceUID)
            replacedInStudy = existing.studyInstanceUID
        }
        try transaction.insert(new, replacing: outcome == .replaced)
        let a = new.attributes
        try transaction.append(OutboxEvent(
            kind: outcome == .replaced ? .instanceReplaced : .instanceStored, studyInstanceUID: a.studyInstanceUID,
            seriesInstanceUID: a.seriesInstanceUID, sopInstanceUID: a.sopInstanceUID, origin: item.context.origin,
            principal: item.context.principal, occurredAt: now))
        try journal.willMove(relativePath: new.path)
        let folder = try store.commit(temporary: item.temporaryFile, toRelativePath: new.path)
        return (outcome, folder, replacedInStudy)
    }

    static func sizeAndChecksum(of url: URL) throws -> (Int, UInt32) {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw ArchiveError(.storage, "cannot reopen \(url.path)")
        }
        defer { try? handle.close() }
        var crc: UInt32 = 0
        var size = 0
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { crc = CRC32.checksum($0, seed: crc) }
            size += chunk.count
        }
        return (size, crc)
    }

    static func sameBytes(_ a: URL, _ b: URL) throws -> Bool {
        guard let x = FileHandle(forReadingAtPath: a.path), let y = FileHandle(forReadingAtPath: b.path) else { return false }
        defer { try? x.close(); try? y.close() }
        while true {
            let p = try x.read(upToCount: 1 << 20) ?? Data()
            let q = try y.read(upToCount: 1 << 20) ?? Data()
            if p != q { return false }
            if p.isEmpty { return true }
        }
    }
}
