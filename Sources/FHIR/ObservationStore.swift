import Archive
import DICOM
import Foundation
import GRDB

/// Observations in the archive's own database (tables of their own, migrations of their own):
/// each stored with its current version's JSON, the values searches need as columns, and the
/// studies it is derived from.
public final class ObservationStore: Sendable {
    let pool: DatabasePool

    public init(archive: Archive) throws {
        pool = archive.index.pool
        do {
            try Self.migrator.migrate(pool)
        } catch {
            throw FHIRError(.serverError, "exception", "cannot prepare the Observation tables: \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("fhir v1 observations") { db in
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
        return migrator
    }

    /// What searches use of one Observation.
    struct Indexed: Sendable {
        var status: String
        var subject: String
        var effective: String
        var device: String
        var tokens: [(parameter: String, system: String, code: String)]
        var derivedFromStudies: [String]
    }

    /// A stored version.
    public struct Stored: Sendable {
        public let id: String
        public let versionId: Int
        public let lastUpdated: Double
        public let deleted: Bool
        public let resource: JSONValue
    }

    func read(id: String) async throws -> Stored? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT versionId, lastUpdated, deleted, json FROM fhirObservation WHERE id = ?",
                                             arguments: [id]) else { return nil }
            let json = try JSONValue.parse(Array((row[3] as String).utf8))
            return Stored(id: id, versionId: row[0], lastUpdated: row[1], deleted: (row[2] as Int) != 0, resource: json)
        }
    }

    /// Writes a new version (versionId = previous + 1, or 1); `expectedVersion` (If-Match) must
    /// match the current one. Returns the stored resource with `id` and `meta` set.
    func write(id: String, resource: JSONValue, indexed: Indexed, creating: Bool, expectedVersion: Int?) async throws -> Stored {
        let now = Date().timeIntervalSince1970
        return try await pool.write { db in
            let current = try Row.fetchOne(db, sql: "SELECT versionId, deleted FROM fhirObservation WHERE id = ?", arguments: [id])
            if creating, current != nil {
                throw FHIRError(.conflict, "duplicate", "Observation/\(id) already exists")
            }
            if !creating, current == nil {
                throw FHIRError(.notFound, "not-found", "Observation/\(id) does not exist (create it with POST)")
            }
            let previous: Int = current?[0] ?? 0
            if let expectedVersion, expectedVersion != previous {
                throw FHIRError(.preconditionFailed, "conflict",
                                "If-Match names version \(expectedVersion) but Observation/\(id) is at version \(previous)")
            }
            let version = previous + 1
            guard case .object(var members) = resource else { throw FHIRError(.badRequest, "structure", "not an object") }
            members["id"] = .string(id)
            var meta = members["meta"]?.objectValue ?? [:]
            meta["versionId"] = .string(String(version))
            meta["lastUpdated"] = .string(Resources.instant(now))
            members["meta"] = .object(meta)
            let stored = JSONValue.object(members)
            try db.execute(sql: """
                INSERT INTO fhirObservation (id, versionId, lastUpdated, deleted, status, subject, effective, device, json)
                VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET versionId = excluded.versionId, lastUpdated = excluded.lastUpdated, deleted = 0,
                    status = excluded.status, subject = excluded.subject, effective = excluded.effective,
                    device = excluded.device, json = excluded.json
                """, arguments: [id, version, now, indexed.status, indexed.subject, indexed.effective, indexed.device,
                                 stored.serialized()])
            try db.execute(sql: "DELETE FROM fhirObservationToken WHERE observationID = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM fhirObservationDerivedFrom WHERE observationID = ?", arguments: [id])
            for token in indexed.tokens {
                try db.execute(sql: "INSERT INTO fhirObservationToken (observationID, parameter, system, code) VALUES (?, ?, ?, ?)",
                               arguments: [id, token.parameter, token.system, token.code])
            }
            for study in Set(indexed.derivedFromStudies) {
                try db.execute(sql: "INSERT INTO fhirObservationDerivedFrom (observationID, studyInstanceUID) VALUES (?, ?)",
                               arguments: [id, study])
            }
            return Stored(id: id, versionId: version, lastUpdated: now, deleted: false, resource: stored)
        }
    }

    /// Marks the Observation deleted (later reads answer 410). Returns false when it never existed.
    func delete(id: String) async throws -> Bool {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT versionId, deleted FROM fhirObservation WHERE id = ?",
                                             arguments: [id]) else { return false }
            if (row[1] as Int) == 0 {
                try db.execute(sql: "UPDATE fhirObservation SET deleted = 1, versionId = versionId + 1, lastUpdated = ? WHERE id = ?",
                               arguments: [Date().timeIntervalSince1970, id])
                try db.execute(sql: "DELETE FROM fhirObservationToken WHERE observationID = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM fhirObservationDerivedFrom WHERE observationID = ?", arguments: [id])
            }
            return true
        }
    }

    /// Observations matching SQL conditions (over `fhirObservation o`), by id order, with the total.
    func search(conditions: [String], arguments: StatementArguments, limit: Int, offset: Int) async throws
        -> (total: Int, resources: [JSONValue]) {
        let whereClause = (["o.deleted = 0"] + conditions).joined(separator: " AND ")
        return try await pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM fhirObservation o WHERE \(whereClause)",
                                         arguments: arguments) ?? 0
            let rows = try String.fetchAll(db, sql: """
                SELECT o.json FROM fhirObservation o WHERE \(whereClause) ORDER BY o.lastUpdated, o.id LIMIT ? OFFSET ?
                """, arguments: arguments + [limit, offset])
            return (total, try rows.map { try JSONValue.parse(Array($0.utf8)) })
        }
    }
}
