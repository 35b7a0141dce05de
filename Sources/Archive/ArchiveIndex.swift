import DICOM
import Foundation
import GRDB

/// The SQLite index (GRDB, WAL): patients, studies, series and instances, with the attributes
/// QIDO needs as indexed columns and the study/series counts maintained on ingest.
/// It is derived data: `Archive.reindex()` rebuilds it from the files alone.
public final class ArchiveIndex: Sendable {
    public let pool: DatabasePool
    /// A read-only connection of its own for point lookups (see `lookup`).
    private let lookups: DatabaseQueue

    public init(path: String) throws {
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
            // Durability: with synchronous=FULL the WAL is synced at every commit, so a committed
            // (acknowledged) instance survives power loss, not only a crash of the process. Set on
            // the writer after GRDB opened it: a pool puts its writer in WAL mode with
            // synchronous=NORMAL after `prepareDatabase` has run, which would undo it there.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(pool)
            var readOnly = Configuration()
            readOnly.readonly = true
            readOnly.busyMode = .timeout(10)
            lookups = try DatabaseQueue(path: path, configuration: readOnly)
        } catch {
            throw ArchiveError(.storage, "cannot open the index \(path): \(error)")
        }
    }

    /// Closes both connections; every later use throws.
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
    public func lookup<T>(_ body: (Database) throws -> T) throws -> T {
        try lookups.read(body)
    }

    /// Named, append-only migrations.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 patients studies series instances") { db in
            try db.execute(sql: """
                CREATE TABLE patient (
                    id INTEGER PRIMARY KEY,
                    patientID TEXT NOT NULL,
                    patientName TEXT NOT NULL,
                    patientBirthDate TEXT NOT NULL,
                    patientSex TEXT NOT NULL,
                    UNIQUE (patientID, patientName)
                );
                CREATE TABLE study (
                    id INTEGER PRIMARY KEY,
                    studyInstanceUID TEXT NOT NULL UNIQUE,
                    patientRowID INTEGER NOT NULL REFERENCES patient(id),
                    patientID TEXT NOT NULL,
                    patientName TEXT NOT NULL,
                    patientNameFuzzy TEXT NOT NULL,
                    patientBirthDate TEXT NOT NULL,
                    patientSex TEXT NOT NULL,
                    studyDate TEXT NOT NULL,
                    studyTime TEXT NOT NULL,
                    accessionNumber TEXT NOT NULL,
                    studyID TEXT NOT NULL,
                    studyDescription TEXT NOT NULL,
                    referringPhysicianName TEXT NOT NULL,
                    referringPhysicianNameFuzzy TEXT NOT NULL,
                    modalitiesInStudy TEXT NOT NULL DEFAULT '\\',
                    sopClassesInStudy TEXT NOT NULL DEFAULT '\\',
                    numberOfStudyRelatedSeries INTEGER NOT NULL DEFAULT 0,
                    numberOfStudyRelatedInstances INTEGER NOT NULL DEFAULT 0,
                    specificCharacterSet TEXT NOT NULL,
                    updatedAt REAL NOT NULL
                );
                CREATE INDEX study_patientID ON study(patientID);
                CREATE INDEX study_patientName ON study(patientName COLLATE NOCASE);
                CREATE INDEX study_studyDate ON study(studyDate);
                CREATE INDEX study_accessionNumber ON study(accessionNumber);
                CREATE INDEX study_patientRowID ON study(patientRowID);
                CREATE TABLE series (
                    id INTEGER PRIMARY KEY,
                    seriesInstanceUID TEXT NOT NULL UNIQUE,
                    studyRowID INTEGER NOT NULL REFERENCES study(id) ON DELETE CASCADE,
                    modality TEXT NOT NULL,
                    seriesNumber INTEGER,
                    seriesDescription TEXT NOT NULL,
                    seriesDate TEXT NOT NULL,
                    seriesTime TEXT NOT NULL,
                    bodyPartExamined TEXT NOT NULL,
                    performedProcedureStepStartDate TEXT NOT NULL,
                    performedProcedureStepStartTime TEXT NOT NULL,
                    numberOfSeriesRelatedInstances INTEGER NOT NULL DEFAULT 0,
                    specificCharacterSet TEXT NOT NULL
                );
                CREATE INDEX series_studyRowID ON series(studyRowID);
                CREATE INDEX series_modality ON series(modality);
                CREATE TABLE instance (
                    id INTEGER PRIMARY KEY,
                    sopInstanceUID TEXT NOT NULL UNIQUE,
                    seriesRowID INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
                    studyRowID INTEGER NOT NULL REFERENCES study(id) ON DELETE CASCADE,
                    sopClassUID TEXT NOT NULL,
                    instanceNumber INTEGER,
                    rows INTEGER,
                    columns INTEGER,
                    bitsAllocated INTEGER,
                    numberOfFrames INTEGER,
                    transferSyntaxUID TEXT NOT NULL,
                    path TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    crc32 INTEGER NOT NULL,
                    specificCharacterSet TEXT NOT NULL,
                    storedAt REAL NOT NULL
                );
                CREATE INDEX instance_seriesRowID ON instance(seriesRowID);
                CREATE INDEX instance_studyRowID ON instance(studyRowID);
                CREATE INDEX instance_sopClassUID ON instance(sopClassUID);
                """)
        }
        migrator.registerMigration("v2 Unicode case-folded person names") { db in
            // SQLite's NOCASE and LIKE fold ASCII only; PN matching must fold Ü like U.
            try db.execute(sql: """
                ALTER TABLE study ADD COLUMN patientNameFolded TEXT NOT NULL DEFAULT '';
                ALTER TABLE study ADD COLUMN referringPhysicianNameFolded TEXT NOT NULL DEFAULT '';
                """)
            let rows = try Row.fetchAll(db, sql: "SELECT id, patientName, referringPhysicianName FROM study")
            for row in rows {
                try db.execute(sql: "UPDATE study SET patientNameFolded = ?, referringPhysicianNameFolded = ? WHERE id = ?",
                               arguments: [NameNormalization.caseFolded(row[1]), NameNormalization.caseFolded(row[2]), row[0] as Int64])
            }
            try db.execute(sql: "CREATE INDEX study_patientNameFolded ON study(patientNameFolded)")
        }
        migrator.registerMigration("v3 fuzzy keys fold letters with strokes") { db in
            let rows = try Row.fetchAll(db, sql: "SELECT id, patientName, referringPhysicianName FROM study")
            for row in rows {
                try db.execute(sql: "UPDATE study SET patientNameFuzzy = ?, referringPhysicianNameFuzzy = ? WHERE id = ?",
                               arguments: [NameNormalization.fuzzyKey(row[1]), NameNormalization.fuzzyKey(row[2]), row[0] as Int64])
            }
        }
        migrator.registerMigration("v4 precomputed instance metadata, deletions awaiting readers") { db in
            // Each instance's DICOM JSON (BulkDataURIs without the server's base URL), written at
            // ingest so study and series metadata never re-read the files. Instances indexed before
            // this migration are filled in by Archive at start-up.
            try db.execute(sql: """
                CREATE TABLE instanceMetadata (
                    instanceRowID INTEGER PRIMARY KEY REFERENCES instance(id) ON DELETE CASCADE,
                    json BLOB NOT NULL
                );
                CREATE TABLE pendingDeletion (
                    id INTEGER PRIMARY KEY,
                    path TEXT NOT NULL
                );
                CREATE INDEX instance_path ON instance(path);
                """)
        }
        migrator.registerMigration("v5 stable patient keys") { db in
            // The public id of a patient (FHIR Patient.id): derived from the identifying values
            // only, so it survives restarts and reindexing.
            try db.execute(sql: "ALTER TABLE patient ADD COLUMN patientKey TEXT NOT NULL DEFAULT ''")
            for row in try Row.fetchAll(db, sql: "SELECT id, patientID, patientName FROM patient") {
                try db.execute(sql: "UPDATE patient SET patientKey = ? WHERE id = ?",
                               arguments: [PatientKey.make(patientID: row[1], patientName: row[2]), row[0] as Int64])
            }
            try db.execute(sql: "CREATE INDEX patient_patientKey ON patient(patientKey)")
        }
        migrator.registerMigration("v6 deletions by study") { db in
            // A delete's clean-up waits for readers of its own study only, so it must remove only
            // that study's files.
            try db.execute(sql: "ALTER TABLE pendingDeletion ADD COLUMN studyInstanceUID TEXT NOT NULL DEFAULT ''")
        }
        migrator.registerMigration("v7 instances of a series by number") { db in
            // Replaces the series index (same upkeep per insert): a series' instances come out in
            // instance-number order without a sort, and its middle instance (thumbnails) is a
            // seek, whatever the series' size.
            try db.execute(sql: """
                DROP INDEX instance_seriesRowID;
                CREATE INDEX instance_seriesRowID_number ON instance(seriesRowID, instanceNumber);
                """)
        }
        return migrator
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

    /// A point lookup (see `lookup`): FHIR calls it per referenced instance from async code.
    public func storedInstance(sopInstanceUID uid: String) throws -> StoredInstance? {
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

    /// A file about to be indexed.
    public struct NewInstance: Sendable {
        public let attributes: InstanceAttributes
        public let transferSyntaxUID: String
        public let path: String
        public let size: Int
        public let crc32: UInt32
        /// The instance's DICOM JSON for metadata responses (see `MetadataJSON`).
        public let metadataJSON: [UInt8]
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

    /// Records a file to remove once its transaction committed and no reader holds its study
    /// (a deleted or replaced instance's; see `Archive.removeFilesOfCommittedDeletions`).
    static func recordPendingDeletion(path: String, studyInstanceUID: String, _ db: Database) throws {
        try db.execute(sql: "INSERT INTO pendingDeletion (path, studyInstanceUID) VALUES (?, ?)", arguments: [path, studyInstanceUID])
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

    /// Every indexed instance's path, size and CRC (for verify).
    public func allInstanceFiles() throws -> [(sopInstanceUID: String, path: String, size: Int, crc32: UInt32)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT sopInstanceUID, path, size, crc32 FROM instance ORDER BY id").map {
                ($0[0], $0[1], $0[2], UInt32(truncatingIfNeeded: $0[3] as Int64))
            }
        }
    }

    public func counts() throws -> (studies: Int, series: Int, instances: Int) {
        try pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM study") ?? 0,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM series") ?? 0,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM instance") ?? 0)
        }
    }
}
