import Foundation
import GRDB

/// Every migration of both databases, named and append-only, each with its reason.
enum Migrations {
    /// The index's (derived data: `index.sqlite`).
    static var index: DatabaseMigrator {
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
        migrator.registerMigration("v8 transactional outbox") { db in
            // Events are written in the transaction of the change they report; the relay copies
            // them into the primary store's log. The generation tells a rebuilt index's numbering
            // from the lost one's.
            try db.execute(sql: """
                CREATE TABLE indexGeneration (generation TEXT NOT NULL);
                INSERT INTO indexGeneration (generation) VALUES (lower(hex(randomblob(16))));
                CREATE TABLE outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL,
                    studyInstanceUID TEXT NOT NULL,
                    seriesInstanceUID TEXT,
                    sopInstanceUID TEXT,
                    origin TEXT,
                    principal TEXT,
                    occurredAt REAL NOT NULL
                );
                """)
        }
        return migrator
    }

    /// The primary store's (`primary.sqlite`: data that cannot be rebuilt from the files).
    static var primary: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("primary v1 observations") { db in
            // Client-posted FHIR Observations: each with its current version's JSON, the values
            // searches need as columns, and the studies it is derived from.
            try db.execute(sql: """
                CREATE TABLE fhirObservation (
                    id TEXT PRIMARY KEY,
                    versionId INTEGER NOT NULL,
                    lastUpdated REAL NOT NULL,
                    deleted INTEGER NOT NULL DEFAULT 0,
                    status TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    effective TEXT NOT NULL,
                    device TEXT NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE INDEX fhirObservation_subject ON fhirObservation(subject);
                CREATE TABLE fhirObservationToken (
                    observationID TEXT NOT NULL REFERENCES fhirObservation(id) ON DELETE CASCADE,
                    parameter TEXT NOT NULL,
                    system TEXT NOT NULL,
                    code TEXT NOT NULL
                );
                CREATE INDEX fhirObservationToken_code ON fhirObservationToken(parameter, code);
                CREATE INDEX fhirObservationToken_observation ON fhirObservationToken(observationID);
                CREATE TABLE fhirObservationDerivedFrom (
                    observationID TEXT NOT NULL REFERENCES fhirObservation(id) ON DELETE CASCADE,
                    studyInstanceUID TEXT NOT NULL
                );
                CREATE INDEX fhirObservationDerivedFrom_study ON fhirObservationDerivedFrom(studyInstanceUID);
                """)
        }
        migrator.registerMigration("primary v1 event log") { db in
            // The durable event log (relayed from the index's outbox, in order, once each), the
            // relay's progress per index generation, each consumer's cursor, and the studies
            // waiting to become stable with their last activity.
            try db.execute(sql: """
                CREATE TABLE event (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL,
                    studyInstanceUID TEXT NOT NULL,
                    seriesInstanceUID TEXT,
                    sopInstanceUID TEXT,
                    origin TEXT,
                    principal TEXT,
                    occurredAt REAL NOT NULL,
                    sourceGeneration TEXT,
                    sourceID INTEGER,
                    UNIQUE (sourceGeneration, sourceID)
                );
                CREATE INDEX event_studyInstanceUID ON event(studyInstanceUID);
                CREATE TABLE relayState (
                    generation TEXT PRIMARY KEY,
                    relayedThrough INTEGER NOT NULL
                );
                CREATE TABLE consumerCursor (
                    consumer TEXT PRIMARY KEY,
                    sequence INTEGER NOT NULL
                );
                CREATE TABLE pendingStability (
                    studyInstanceUID TEXT PRIMARY KEY,
                    lastActivity REAL NOT NULL
                );
                CREATE INDEX pendingStability_lastActivity ON pendingStability(lastActivity);
                """)
        }
        migrator.registerMigration("primary v2 enrichment") { db in
            // A study's stable state, durable and versioned: each time it becomes stable its
            // generation goes up (1 the first time; an instance arriving later reopens it), and
            // the study.stable event carries the generation it starts.
            // The enrichment queue: one job per idempotency key (study, generation,
            // analyzer@version), each attempt audited as a run; retrospective batches; and the
            // FHIR resources the results add besides Observations (DiagnosticReport, Device).
            try db.execute(sql: """
                ALTER TABLE event ADD COLUMN generation INTEGER;
                CREATE TABLE studyGeneration (
                    studyInstanceUID TEXT PRIMARY KEY,
                    generation INTEGER NOT NULL,
                    stableAt REAL NOT NULL
                );
                CREATE TABLE aiBatch (
                    id TEXT PRIMARY KEY,
                    createdAt REAL NOT NULL,
                    description TEXT NOT NULL,
                    cancelledAt REAL
                );
                CREATE TABLE aiJob (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    idempotencyKey TEXT NOT NULL UNIQUE,
                    studyInstanceUID TEXT NOT NULL,
                    generation INTEGER NOT NULL,
                    analyzer TEXT NOT NULL,
                    analyzerVersion TEXT NOT NULL,
                    trigger TEXT NOT NULL,
                    batchID TEXT REFERENCES aiBatch(id),
                    status TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    notBefore REAL NOT NULL,
                    createdAt REAL NOT NULL,
                    updatedAt REAL NOT NULL,
                    lastError TEXT,
                    outputs TEXT,
                    predecessorChosen INTEGER NOT NULL DEFAULT 0,
                    predecessorJobID INTEGER
                );
                CREATE INDEX aiJob_ready ON aiJob(status, notBefore);
                CREATE INDEX aiJob_study ON aiJob(studyInstanceUID, analyzer, analyzerVersion);
                CREATE INDEX aiJob_batch ON aiJob(batchID);
                CREATE TABLE aiRun (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    jobID INTEGER NOT NULL REFERENCES aiJob(id),
                    studyInstanceUID TEXT NOT NULL,
                    analyzer TEXT NOT NULL,
                    analyzerVersion TEXT NOT NULL,
                    trigger TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    startedAt REAL NOT NULL,
                    runtime REAL NOT NULL,
                    status TEXT NOT NULL,
                    reason TEXT,
                    outputs TEXT
                );
                CREATE INDEX aiRun_study ON aiRun(studyInstanceUID);
                CREATE INDEX aiRun_analyzer ON aiRun(analyzer, analyzerVersion);
                CREATE INDEX aiRun_startedAt ON aiRun(startedAt);
                CREATE TABLE fhirResource (
                    resourceType TEXT NOT NULL,
                    id TEXT NOT NULL,
                    versionId INTEGER NOT NULL,
                    lastUpdated REAL NOT NULL,
                    status TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    studyInstanceUID TEXT NOT NULL,
                    codeSystem TEXT NOT NULL,
                    code TEXT NOT NULL,
                    device TEXT NOT NULL,
                    json TEXT NOT NULL,
                    PRIMARY KEY (resourceType, id)
                );
                CREATE INDEX fhirResource_study ON fhirResource(resourceType, studyInstanceUID);
                CREATE INDEX fhirResource_subject ON fhirResource(resourceType, subject);
                """)
        }
        migrator.registerMigration("primary v3 access audit") { db in
            // Every request that touched the archive's data (who, from where, what, outcome),
            // and the studies each named, for search by study.
            try db.execute(sql: """
                CREATE TABLE accessAudit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    time REAL NOT NULL,
                    principal TEXT,
                    roles TEXT NOT NULL,
                    clientAddress TEXT,
                    method TEXT NOT NULL,
                    path TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    bytes INTEGER NOT NULL
                );
                CREATE INDEX accessAudit_time ON accessAudit(time);
                CREATE INDEX accessAudit_principal ON accessAudit(principal, time);
                CREATE TABLE accessAuditStudy (
                    recordID INTEGER NOT NULL REFERENCES accessAudit(id) ON DELETE CASCADE,
                    studyInstanceUID TEXT NOT NULL,
                    PRIMARY KEY (recordID, studyInstanceUID)
                ) WITHOUT ROWID;
                CREATE INDEX accessAuditStudy_study ON accessAuditStudy(studyInstanceUID);
                """)
        }
        return migrator
    }
}
