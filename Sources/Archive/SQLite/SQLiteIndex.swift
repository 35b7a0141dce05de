import DICOM
import Foundation
import GRDB

/// The embedded index (GRDB, WAL, `index.sqlite`): patients, studies, series and instances, with
/// the attributes QIDO needs as indexed columns and the study/series counts maintained on ingest,
/// and the outbox. Derived data: `Archive.reindex()` rebuilds it from the files alone.
final class SQLiteIndex: IndexStore, GatedStore {
    let pool: DatabasePool
    /// Asked before every transaction (see `StorageGate`).
    let gate: StorageGate
    /// A read-only connection of its own for point lookups (see `lookup`).
    private let lookups: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // Statement journals (one per savepoint) in memory: a temporary file per transaction
            // churned inodes in /var/tmp on every ingest.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteDurability.syncEveryCommit(pool)
            try Migrations.index.migrate(pool)
            gate = StorageGate(databasePath: path)
            var readOnly = Configuration()
            readOnly.readonly = true
            readOnly.busyMode = .timeout(10)
            lookups = try DatabaseQueue(path: path, configuration: readOnly)
        } catch {
            throw ArchiveError(.storage, "cannot open the index \(path): \(error)")
        }
    }

    func close() throws {
        try lookups.close()
        try pool.close()
    }

    /// A bounded read (one instance's row, a study's few representative files) on the calling
    /// thread, through a read-only connection kept for these. `pool.read` from async code hops to
    /// one of GRDB's reader queues and back: two thread switches, about 0.07 ms per rendered image
    /// on this VM (measured A/B). Blocking the calling thread is safe here, unlike a blocking read
    /// on the pool: whoever holds this connection runs one short query and never awaits, so a
    /// thread waiting for it waits for that query only; the pool's readers can be held by async
    /// reads that need a free cooperative thread to finish.
    func lookup<T>(_ body: (Database) throws -> T) throws -> T {
        // While the files are frozen the lookup connection's mapped WAL index must not be touched.
        if gate.frozen != nil { return try gate.reader(pool).read(body) }
        return try lookups.read(body)
    }

    func storedInstance(sopInstanceUID uid: String) throws -> StoredInstance? {
        try lookup { db in try Self.storedInstance(db, uid) }
    }

    static func storedInstance(_ db: Database, _ uid: String) throws -> StoredInstance? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT study.studyInstanceUID, series.seriesInstanceUID, instance.path, instance.size, instance.crc32,
                   instance.transferSyntaxUID
            FROM instance JOIN series ON series.id = instance.seriesRowID JOIN study ON study.id = instance.studyRowID
            WHERE instance.sopInstanceUID = ?
            """), arguments: [uid]) else { return nil }
        return StoredInstance(studyInstanceUID: row[0], seriesInstanceUID: row[1], path: row[2], size: row[3],
                              crc32: UInt32(truncatingIfNeeded: row[4] as Int64), transferSyntaxUID: row[5])
    }

    // MARK: Transactions

    func transaction<T: Sendable>(_ body: @escaping @Sendable (any IndexTransaction) throws -> T,
                                  committed: @escaping @Sendable () -> Void) async throws -> T {
        try gate.checkWritable()
        return try await pool.writeWithoutTransaction { db in
            try db.beginTransaction(.immediate)
            let result: T
            do {
                result = try body(SQLiteIndexTransaction(db: db))
            } catch {
                try? db.rollback()
                throw error
            }
            do {
                try db.commit()
            } catch {
                if db.isInsideTransaction { try? db.rollback() }
                throw IndexCommitFailure(underlying: error)
            }
            committed()
            return result
        }
    }

    func transactionNow<T>(_ body: (any IndexTransaction) throws -> T) throws -> T {
        try gatedWriteSync { db in try body(SQLiteIndexTransaction(db: db)) }
    }

    // MARK: Maintenance

    func allInstanceFiles() throws -> [(sopInstanceUID: String, path: String, size: Int, crc32: UInt32)] {
        try gate.reader(pool).read { db in
            try Row.fetchAll(db, sql: "SELECT sopInstanceUID, path, size, crc32 FROM instance ORDER BY id").map {
                ($0[0], $0[1], $0[2], UInt32(truncatingIfNeeded: $0[3] as Int64))
            }
        }
    }

    func counts() throws -> (studies: Int, series: Int, instances: Int) {
        try gate.reader(pool).read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM study") ?? 0,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM series") ?? 0,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM instance") ?? 0)
        }
    }

    func recordedChecksum(path: String) throws -> (size: Int, crc32: UInt32)? {
        try gate.reader(pool).read { db in
            try Row.fetchOne(db, sql: "SELECT size, crc32 FROM instance WHERE path = ?", arguments: [path])
                .map { (size: $0[0] as Int, crc32: UInt32(truncatingIfNeeded: $0[1] as Int64)) }
        }
    }

    func instancesWithoutMetadata(limit: Int) throws -> [(rowID: Int64, path: String)] {
        try gate.reader(pool).read { db in
            try Row.fetchAll(db, sql: """
                SELECT instance.id, instance.path FROM instance
                LEFT JOIN instanceMetadata ON instanceMetadata.instanceRowID = instance.id
                WHERE instanceMetadata.instanceRowID IS NULL LIMIT ?
                """, arguments: [limit]).map { (rowID: $0[0] as Int64, path: $0[1] as String) }
        }
    }

    func setMetadata(_ items: [(rowID: Int64, json: [UInt8])]) throws {
        try gatedWriteSync { db in
            for (rowID, json) in items {
                try db.execute(sql: "INSERT OR REPLACE INTO instanceMetadata (instanceRowID, json) VALUES (?, ?)",
                               arguments: [rowID, Data(json)])
            }
        }
    }

    func pendingDeletions(study: String?) throws -> [(id: Int64, path: String)] {
        try gate.reader(pool).read { db in
            try Row.fetchAll(db, sql: "SELECT id, path FROM pendingDeletion WHERE ? IS NULL OR studyInstanceUID = ? ORDER BY id",
                             arguments: [study, study]).map { (id: $0[0] as Int64, path: $0[1] as String) }
        }
    }

    func settlePendingDeletions(_ pending: [(id: Int64, path: String)], remove: (String) -> Bool) throws {
        try gatedWriteSync { db in
            for (id, path) in pending {
                if try Int64.fetchOne(db, sql: "SELECT id FROM instance WHERE path = ?", arguments: [path]) == nil, !remove(path) {
                    continue   // kept for the next attempt (at the latest, the next start-up)
                }
                try db.execute(sql: "DELETE FROM pendingDeletion WHERE id = ?", arguments: [id])
            }
        }
    }

    func removeAllInstances() throws {
        try gatedWriteSync { db in
            try db.execute(sql: "DELETE FROM instance; DELETE FROM series; DELETE FROM study; DELETE FROM patient;")
        }
    }

    func existingStudies(_ uids: Set<String>) throws -> Set<String> {
        guard !uids.isEmpty else { return [] }
        let list = Array(uids)
        return try gate.reader(pool).read { db in
            var found = Set<String>()
            for start in stride(from: 0, to: list.count, by: 500) {
                let chunk = Array(list[start..<min(start + 500, list.count)])
                found.formUnion(try String.fetchAll(db, sql: """
                    SELECT studyInstanceUID FROM study WHERE studyInstanceUID IN (\(chunk.map { _ in "?" }.joined(separator: ",")))
                    """, arguments: StatementArguments(chunk)))
            }
            return found
        }
    }

    // MARK: Outbox

    func outboxGeneration() throws -> String {
        try gate.reader(pool).read { db in try String.fetchOne(db, sql: "SELECT generation FROM indexGeneration") ?? "" }
    }

    func outboxEvents(after id: Int64, limit: Int) throws -> [OutboxEvent] {
        try gate.reader(pool).read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, kind, studyInstanceUID, seriesInstanceUID, sopInstanceUID, origin, principal, occurredAt
                FROM outbox WHERE id > ? AND kind IN (\(Self.knownKinds)) ORDER BY id LIMIT ?
                """, arguments: [id, limit]).compactMap { row in
                guard let kind = ArchiveEvent.Kind(rawValue: row[1]) else { return nil }
                return OutboxEvent(id: row[0], kind: kind, studyInstanceUID: row[2], seriesInstanceUID: row[3],
                                   sopInstanceUID: row[4], origin: (row[5] as String?).flatMap(IngestOrigin.init),
                                   principal: row[6], occurredAt: row[7])
            }
        }
    }

    /// The event kinds this version knows, as an SQL list (rows of others, from a newer version
    /// run before a downgrade, are left alone).
    private static let knownKinds = ArchiveEvent.Kind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")

    func outboxHighWater() throws -> Int64 {
        try gate.reader(pool).read { db in
            try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") ?? 0
        }
    }

    func renewOutboxGeneration() throws -> String {
        try gatedWriteSync { db in
            try db.execute(sql: "UPDATE indexGeneration SET generation = lower(hex(randomblob(16)))")
            return try String.fetchOne(db, sql: "SELECT generation FROM indexGeneration") ?? ""
        }
    }

    // MARK: Observations of older data folders

    func legacyObservations() throws -> [LegacyObservation] {
        try gate.reader(pool).read { db in
            guard try db.tableExists("fhirObservation") else { return [] }
            var tokens: [String: [ObservationSearchValues.Token]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT observationID, parameter, system, code FROM fhirObservationToken") {
                tokens[row[0], default: []].append(.init(parameter: row[1], system: row[2], code: row[3]))
            }
            var studies: [String: [String]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT observationID, studyInstanceUID FROM fhirObservationDerivedFrom") {
                studies[row[0], default: []].append(row[1])
            }
            return try Row.fetchAll(db, sql: """
                SELECT id, versionId, lastUpdated, deleted, status, subject, effective, device, json FROM fhirObservation
                """).map { row in
                let id: String = row[0]
                return LegacyObservation(
                    record: ObservationRecord(id: id, versionId: row[1], lastUpdated: row[2], deleted: (row[3] as Int) != 0, json: row[8]),
                    values: ObservationSearchValues(status: row[4], subject: row[5], effective: row[6], device: row[7],
                                                    tokens: tokens[id] ?? [], derivedFromStudies: studies[id] ?? []))
            }
        }
    }

    func dropLegacyObservations() throws {
        try gatedWriteSync { db in
            guard try db.tableExists("fhirObservation") else { return }
            try db.execute(sql: """
                DROP TABLE fhirObservationToken; DROP TABLE fhirObservationDerivedFrom; DROP TABLE fhirObservation;
                DELETE FROM grdb_migrations WHERE identifier = 'fhir v1 observations';
                """)
        }
    }
}

/// A write transaction on the index (one GRDB connection, inside `pool.write`).
struct SQLiteIndexTransaction: IndexTransaction {
    let db: Database

    func storedInstance(_ uid: String) throws -> StoredInstance? {
        try SQLiteIndex.storedInstance(db, uid)
    }

    func storedStudyExists(_ uid: String) throws -> Bool {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM study WHERE studyInstanceUID = ?"), arguments: [uid]) != nil
    }

    func insert(_ new: NewInstance, replacing: Bool) throws {
        try Self.insert(new, replacing: replacing, db)
    }

    func deleteInstances(_ selector: InstanceSelector) throws -> [(sopInstanceUID: String, path: String)] {
        let (conditions, arguments) = SQLiteIndex.conditions(selector)
        let rows = try Row.fetchAll(db, sql: """
            SELECT instance.sopInstanceUID, instance.path
            FROM instance JOIN series ON series.id = instance.seriesRowID JOIN study ON study.id = instance.studyRowID
            WHERE \(conditions)
            """, arguments: arguments).map { (sopInstanceUID: $0[0] as String, path: $0[1] as String) }
        for row in rows { try Self.delete(sopInstanceUID: row.sopInstanceUID, db) }
        return rows
    }

    func recordPendingDeletion(path: String, studyInstanceUID: String) throws {
        try db.cachedStatement(sql: "INSERT INTO pendingDeletion (path, studyInstanceUID) VALUES (?, ?)")
            .execute(arguments: [path, studyInstanceUID])
    }

    func append(_ event: OutboxEvent) throws {
        try db.cachedStatement(sql: """
            INSERT INTO outbox (kind, studyInstanceUID, seriesInstanceUID, sopInstanceUID, origin, principal, occurredAt)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [event.kind.rawValue, event.studyInstanceUID, event.seriesInstanceUID, event.sopInstanceUID,
                                     event.origin?.rawValue, event.principal, event.occurredAt])
    }

    func forgetRelayedEvents(through id: Int64) throws {
        try db.cachedStatement(sql: "DELETE FROM outbox WHERE id <= ?").execute(arguments: [id])
    }

    func savepoint(_ body: () throws -> Void) throws {
        try db.inSavepoint {
            try body()
            return .commit
        }
    }

    /// Inserts (or, when `replacing`, replaces) one instance and maintains patient, study and
    /// series rows and their counts, in the caller's transaction.
    static func insert(_ new: NewInstance, replacing: Bool, _ db: Database) throws {
        let a = new.attributes
        let now = Date().timeIntervalSince1970
        if replacing { try delete(sopInstanceUID: a.sopInstanceUID, db) }

        try db.cachedStatement(sql: """
            INSERT INTO patient (patientID, patientName, patientBirthDate, patientSex, patientKey) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (patientID, patientName) DO NOTHING
            """).execute(arguments: [a.patientID, a.patientName, a.patientBirthDate, a.patientSex,
                                     PatientKey.make(patientID: a.patientID, patientName: a.patientName)])
        let patientRowID = try Int64.fetchOne(db.cachedStatement(sql:
            "SELECT id FROM patient WHERE patientID = ? AND patientName = ?"), arguments: [a.patientID, a.patientName])!

        var studyRowID = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM study WHERE studyInstanceUID = ?"),
                                            arguments: [a.studyInstanceUID])
        if studyRowID == nil {
            try db.cachedStatement(sql: """
                INSERT INTO study (studyInstanceUID, patientRowID, patientID, patientName, patientNameFuzzy, patientBirthDate,
                    patientSex, studyDate, studyTime, accessionNumber, studyID, studyDescription, referringPhysicianName,
                    referringPhysicianNameFuzzy, specificCharacterSet, updatedAt, patientNameFolded, referringPhysicianNameFolded)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [
                    a.studyInstanceUID, patientRowID, a.patientID, a.patientName, NameNormalization.fuzzyKey(a.patientName),
                    a.patientBirthDate, a.patientSex, a.studyDate, a.studyTime, a.accessionNumber, a.studyID,
                    a.studyDescription, a.referringPhysicianName, NameNormalization.fuzzyKey(a.referringPhysicianName),
                    a.specificCharacterSet, now, NameNormalization.caseFolded(a.patientName),
                    NameNormalization.caseFolded(a.referringPhysicianName),
                ])
            studyRowID = db.lastInsertedRowID
        }

        var seriesRowID = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM series WHERE seriesInstanceUID = ?"),
                                             arguments: [a.seriesInstanceUID])
        if seriesRowID == nil {
            try db.cachedStatement(sql: """
                INSERT INTO series (seriesInstanceUID, studyRowID, modality, seriesNumber, seriesDescription, seriesDate,
                    seriesTime, bodyPartExamined, performedProcedureStepStartDate, performedProcedureStepStartTime,
                    specificCharacterSet)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [
                    a.seriesInstanceUID, studyRowID, a.modality, a.seriesNumber, a.seriesDescription, a.seriesDate,
                    a.seriesTime, a.bodyPartExamined, a.performedProcedureStepStartDate, a.performedProcedureStepStartTime,
                    a.specificCharacterSet,
                ])
            seriesRowID = db.lastInsertedRowID
            try db.cachedStatement(sql: """
                UPDATE study SET numberOfStudyRelatedSeries = numberOfStudyRelatedSeries + 1,
                    modalitiesInStudy = CASE WHEN ? = '' OR instr(modalitiesInStudy, '\\' || ? || '\\') > 0
                        THEN modalitiesInStudy ELSE modalitiesInStudy || ? || '\\' END
                WHERE id = ?
                """).execute(arguments: [a.modality, a.modality, a.modality, studyRowID])
        } else if let existing = try Int64.fetchOne(db.cachedStatement(sql: "SELECT studyRowID FROM series WHERE id = ?"),
                                                    arguments: [seriesRowID]), existing != studyRowID {
            throw ArchiveError(.invalidInstance,
                "Series Instance UID \(a.seriesInstanceUID) already belongs to another study", subject: a.seriesInstanceUID)
        }

        try db.cachedStatement(sql: """
            INSERT INTO instance (sopInstanceUID, seriesRowID, studyRowID, sopClassUID, instanceNumber, rows, columns,
                bitsAllocated, numberOfFrames, transferSyntaxUID, path, size, crc32, specificCharacterSet, storedAt)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                a.sopInstanceUID, seriesRowID, studyRowID, a.sopClassUID, a.instanceNumber, a.rows, a.columns,
                a.bitsAllocated, a.numberOfFrames, new.transferSyntaxUID, new.path, new.size, Int64(new.crc32),
                a.specificCharacterSet, now,
            ])
        try db.cachedStatement(sql: "INSERT INTO instanceMetadata (instanceRowID, json) VALUES (?, ?)")
            .execute(arguments: [db.lastInsertedRowID, Data(new.metadataJSON)])
        try db.cachedStatement(sql:
            "UPDATE series SET numberOfSeriesRelatedInstances = numberOfSeriesRelatedInstances + 1 WHERE id = ?")
            .execute(arguments: [seriesRowID])
        try db.cachedStatement(sql: """
            UPDATE study SET numberOfStudyRelatedInstances = numberOfStudyRelatedInstances + 1, updatedAt = ?,
                sopClassesInStudy = CASE WHEN instr(sopClassesInStudy, '\\' || ? || '\\') > 0
                    THEN sopClassesInStudy ELSE sopClassesInStudy || ? || '\\' END
            WHERE id = ?
            """).execute(arguments: [now, a.sopClassUID, a.sopClassUID, studyRowID])
    }

    /// Removes an instance row and fixes the counts; empty series and studies go too.
    static func delete(sopInstanceUID uid: String, _ db: Database) throws {
        guard let row = try Row.fetchOne(db.cachedStatement(sql:
            "SELECT id, seriesRowID, studyRowID FROM instance WHERE sopInstanceUID = ?"), arguments: [uid]) else { return }
        let instanceRowID: Int64 = row[0], seriesRowID: Int64 = row[1], studyRowID: Int64 = row[2]
        try db.execute(sql: "DELETE FROM instance WHERE id = ?", arguments: [instanceRowID])
        try db.execute(sql: "UPDATE series SET numberOfSeriesRelatedInstances = numberOfSeriesRelatedInstances - 1 WHERE id = ?",
                       arguments: [seriesRowID])
        try db.execute(sql: """
            UPDATE study SET numberOfStudyRelatedInstances = numberOfStudyRelatedInstances - 1, updatedAt = ? WHERE id = ?
            """, arguments: [Date().timeIntervalSince1970, studyRowID])
        try db.execute(sql: "DELETE FROM series WHERE id = ? AND numberOfSeriesRelatedInstances <= 0", arguments: [seriesRowID])
        if db.changesCount > 0 {
            try recomputeStudySummary(studyRowID, db)
        }
        try db.execute(sql: "DELETE FROM study WHERE id = ? AND numberOfStudyRelatedInstances <= 0", arguments: [studyRowID])
    }

    /// Rebuilds a study's series count, modalities and SOP classes from its rows.
    static func recomputeStudySummary(_ studyRowID: Int64, _ db: Database) throws {
        let modalities = try String.fetchAll(db, sql: "SELECT DISTINCT modality FROM series WHERE studyRowID = ? AND modality != '' ORDER BY id",
                                             arguments: [studyRowID])
        let classes = try String.fetchAll(db, sql: "SELECT DISTINCT sopClassUID FROM instance WHERE studyRowID = ? ORDER BY id",
                                          arguments: [studyRowID])
        try db.execute(sql: """
            UPDATE study SET numberOfStudyRelatedSeries = (SELECT count(*) FROM series WHERE studyRowID = ?),
                modalitiesInStudy = ?, sopClassesInStudy = ? WHERE id = ?
            """, arguments: [studyRowID, "\\" + modalities.map { $0 + "\\" }.joined(), "\\" + classes.map { $0 + "\\" }.joined(), studyRowID])
    }
}

/// PRAGMAs that make a database durable the way the archive needs.
enum SQLiteDurability {
    /// With synchronous=FULL the WAL is synced at every commit, so a committed (acknowledged)
    /// change survives power loss, not only a crash of the process. Set on the writer after GRDB
    /// opened it: a pool puts its writer in WAL mode with synchronous=NORMAL after
    /// `prepareDatabase` has run, which would undo it there.
    static func syncEveryCommit(_ pool: DatabasePool) throws {
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    }
}
