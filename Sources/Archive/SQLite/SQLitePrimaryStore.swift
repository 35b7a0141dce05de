import Foundation
import GRDB

/// The embedded primary store (GRDB, WAL, `primary.sqlite`): data that cannot be rebuilt from
/// the files. Synced at every commit like the index.
final class SQLitePrimaryStore: PrimaryStore, GatedStore {
    let pool: DatabasePool
    /// Asked before every transaction (see `StorageGate`).
    let gate: StorageGate

    init(path: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA temp_store = MEMORY") }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteDurability.syncEveryCommit(pool)
            try Migrations.primary.migrate(pool)
            gate = StorageGate(databasePath: path)
        } catch {
            throw ArchiveError(.storage, "cannot open the primary store \(path): \(error)")
        }
    }

    func close() throws {
        try pool.close()
    }

    /// A consistent copy of a primary store file, taken while its owner may be writing to it
    /// (SQLite's online backup API reads one snapshot). Used by `minivna backup` without opening
    /// the archive, so it also works next to a running server.
    static func backup(storeAt source: String, to destination: String) throws {
        guard FileManager.default.fileExists(atPath: source) else {
            throw ArchiveError(.notFound, "no primary store at \(source)")
        }
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(10)
        let from = try DatabaseQueue(path: source, configuration: readOnly)
        defer { try? from.close() }
        try copy(from, to: destination)
    }

    func backup(to path: String) throws {
        try Self.copy(pool, to: path)
    }

    private static func copy(_ source: some DatabaseReader, to destination: String) throws {
        let temporary = destination + ".partial"
        unlink(temporary)
        do {
            let target = try DatabaseQueue(path: temporary)
            try source.backup(to: target)
            try target.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            try target.close()
            guard rename(temporary, destination) == 0 else {
                throw ArchiveError(.storage, "cannot move the backup into place at \(destination): \(String(cString: strerror(errno)))")
            }
            // The new name on stable storage too (SQLite synced the file's content at its close).
            try FileBlobStore.fsyncDirectory(URL(fileURLWithPath: destination).deletingLastPathComponent())
        } catch {
            unlink(temporary)
            throw error as? ArchiveError ?? ArchiveError(.storage, "backup to \(destination) failed: \(error)")
        }
    }

    // MARK: Event log

    func appendRelayed(_ events: [OutboxEvent], generation: String) throws -> Int64 {
        try gatedWriteSync { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO event (kind, studyInstanceUID, seriesInstanceUID, sopInstanceUID, origin, principal, occurredAt,
                    sourceGeneration, sourceID)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (sourceGeneration, sourceID) DO NOTHING
                """)
            let activity = try db.cachedStatement(sql: """
                INSERT INTO pendingStability (studyInstanceUID, lastActivity) VALUES (?, ?)
                ON CONFLICT (studyInstanceUID) DO UPDATE SET lastActivity = max(lastActivity, excluded.lastActivity)
                """)
            var last: Int64 = 0
            for event in events {
                try insert.execute(arguments: [event.kind.rawValue, event.studyInstanceUID, event.seriesInstanceUID,
                                               event.sopInstanceUID, event.origin?.rawValue, event.principal, event.occurredAt,
                                               generation, event.id])
                last = event.id ?? last
                guard db.changesCount > 0 else { continue }   // relayed before: its effects are in place
                switch event.kind {
                case .instanceStored, .instanceReplaced:
                    if event.origin != .enrichment {
                        try activity.execute(arguments: [event.studyInstanceUID, event.occurredAt])
                    }
                case .deleted where event.seriesInstanceUID == nil && event.sopInstanceUID == nil:
                    // A deleted study never becomes stable.
                    try db.execute(sql: "DELETE FROM pendingStability WHERE studyInstanceUID = ?", arguments: [event.studyInstanceUID])
                default:
                    break
                }
            }
            try db.execute(sql: """
                INSERT INTO relayState (generation, relayedThrough) VALUES (?, ?)
                ON CONFLICT (generation) DO UPDATE SET relayedThrough = max(relayedThrough, excluded.relayedThrough)
                """, arguments: [generation, last])
            return try Self.latestSequence(db)
        }
    }

    func relayedThrough(generation: String) throws -> Int64 {
        try gate.reader(pool).read { db in
            try Int64.fetchOne(db, sql: "SELECT relayedThrough FROM relayState WHERE generation = ?", arguments: [generation]) ?? 0
        }
    }

    private static func latestSequence(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT max(sequence) FROM event") ?? 0
    }

    func latestSequence() throws -> Int64 {
        try gate.reader(pool).read { db in try Self.latestSequence(db) }
    }

    func events(after sequence: Int64, limit: Int) throws -> [ArchiveEvent] {
        try gate.reader(pool).read { db in
            try Row.fetchAll(db, sql: """
                SELECT sequence, kind, studyInstanceUID, seriesInstanceUID, sopInstanceUID, origin, principal, occurredAt, generation
                FROM event WHERE sequence > ? AND kind IN (\(Self.knownKinds)) ORDER BY sequence LIMIT ?
                """, arguments: [sequence, limit]).compactMap { row in
                guard let kind = ArchiveEvent.Kind(rawValue: row[1]) else { return nil }
                return ArchiveEvent(sequence: row[0], kind: kind, studyInstanceUID: row[2], seriesInstanceUID: row[3],
                                    sopInstanceUID: row[4], origin: (row[5] as String?).flatMap(IngestOrigin.init),
                                    principal: row[6], occurredAt: Date(timeIntervalSince1970: row[7]), generation: row[8])
            }
        }
    }

    /// The event kinds this version knows, as an SQL list.
    private static let knownKinds = ArchiveEvent.Kind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")

    func cursor(consumer: String) throws -> Int64 {
        try gate.reader(pool).read { db in
            try Int64.fetchOne(db, sql: "SELECT sequence FROM consumerCursor WHERE consumer = ?", arguments: [consumer]) ?? 0
        }
    }

    func setCursor(consumer: String, to sequence: Int64) throws {
        try gatedWriteSync { db in
            try db.execute(sql: """
                INSERT INTO consumerCursor (consumer, sequence) VALUES (?, ?)
                ON CONFLICT (consumer) DO UPDATE SET sequence = excluded.sequence
                """, arguments: [consumer, sequence])
        }
    }

    // MARK: Study stability

    func oldestPendingActivity() throws -> Double? {
        try gate.reader(pool).read { db in try Double.fetchOne(db, sql: "SELECT min(lastActivity) FROM pendingStability") }
    }

    func markStable(quietBefore: Double, now: Double) throws -> (studies: [String], latest: Int64) {
        try gatedWriteSync { db in
            let studies = try String.fetchAll(db, sql: """
                SELECT studyInstanceUID FROM pendingStability WHERE lastActivity <= ? ORDER BY lastActivity
                """, arguments: [quietBefore])
            for study in studies {
                try db.execute(sql: """
                    INSERT INTO studyGeneration (studyInstanceUID, generation, stableAt) VALUES (?, 1, ?)
                    ON CONFLICT (studyInstanceUID) DO UPDATE SET generation = generation + 1, stableAt = excluded.stableAt
                    """, arguments: [study, now])
                let generation = try Int.fetchOne(db, sql: "SELECT generation FROM studyGeneration WHERE studyInstanceUID = ?",
                                                  arguments: [study]) ?? 1
                try db.execute(sql: "INSERT INTO event (kind, studyInstanceUID, occurredAt, generation) VALUES (?, ?, ?, ?)",
                               arguments: [ArchiveEvent.Kind.studyStable.rawValue, study, now, generation])
                try db.execute(sql: "DELETE FROM pendingStability WHERE studyInstanceUID = ?", arguments: [study])
            }
            return (studies, try Self.latestSequence(db))
        }
    }

    // MARK: Observations

    func observation(id: String) async throws -> ObservationRecord? {
        try await gate.reader(pool).read { db in
            try Row.fetchOne(db, sql: "SELECT versionId, lastUpdated, deleted, json FROM fhirObservation WHERE id = ?",
                             arguments: [id]).map { row in
                ObservationRecord(id: id, versionId: row[0], lastUpdated: row[1], deleted: (row[2] as Int) != 0, json: row[3])
            }
        }
    }

    func writeObservation(_ write: ObservationWrite) async throws -> ObservationWriteOutcome {
        try await gatedWrite { db in
            let current = try Row.fetchOne(db, sql: "SELECT versionId FROM fhirObservation WHERE id = ?", arguments: [write.id])
            if write.creating, current != nil { return .alreadyExists }
            if !write.creating, current == nil { return .doesNotExist }
            let previous: Int = current?[0] ?? 0
            if let expected = write.expectedVersion, expected != previous { return .versionMismatch(current: previous) }
            let version = previous + 1
            let json = try write.render(version, write.now)
            let values = write.values
            try db.execute(sql: """
                INSERT INTO fhirObservation (id, versionId, lastUpdated, deleted, status, subject, effective, device, json)
                VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET versionId = excluded.versionId, lastUpdated = excluded.lastUpdated, deleted = 0,
                    status = excluded.status, subject = excluded.subject, effective = excluded.effective,
                    device = excluded.device, json = excluded.json
                """, arguments: [write.id, version, write.now, values.status, values.subject, values.effective, values.device, json])
            try Self.replaceSearchValues(of: write.id, with: values, db)
            return .written(ObservationRecord(id: write.id, versionId: version, lastUpdated: write.now, deleted: false, json: json))
        }
    }

    private static func replaceSearchValues(of id: String, with values: ObservationSearchValues?, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM fhirObservationToken WHERE observationID = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM fhirObservationDerivedFrom WHERE observationID = ?", arguments: [id])
        guard let values else { return }
        for token in values.tokens {
            try db.execute(sql: "INSERT INTO fhirObservationToken (observationID, parameter, system, code) VALUES (?, ?, ?, ?)",
                           arguments: [id, token.parameter, token.system, token.code])
        }
        for study in Set(values.derivedFromStudies) {
            try db.execute(sql: "INSERT INTO fhirObservationDerivedFrom (observationID, studyInstanceUID) VALUES (?, ?)",
                           arguments: [id, study])
        }
    }

    func deleteObservation(id: String, now: Double) async throws -> Bool {
        try await gatedWrite { db in
            guard let deleted = try Int.fetchOne(db, sql: "SELECT deleted FROM fhirObservation WHERE id = ?", arguments: [id]) else {
                return false
            }
            if deleted == 0 {
                try db.execute(sql: "UPDATE fhirObservation SET deleted = 1, versionId = versionId + 1, lastUpdated = ? WHERE id = ?",
                               arguments: [now, id])
                try Self.replaceSearchValues(of: id, with: nil, db)
            }
            return true
        }
    }

    func searchObservations(_ filter: ObservationFilter, limit: Int, offset: Int) async throws -> (total: Int, resources: [String]) {
        let (conditions, arguments) = Self.sql(filter)
        let whereClause = (["o.deleted = 0"] + conditions).joined(separator: " AND ")
        return try await gate.reader(pool).read { db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM fhirObservation o WHERE \(whereClause)",
                                         arguments: arguments) ?? 0
            let rows = try String.fetchAll(db, sql: """
                SELECT o.json FROM fhirObservation o WHERE \(whereClause) ORDER BY o.lastUpdated, o.id LIMIT ? OFFSET ?
                """, arguments: arguments + [limit, offset])
            return (total, rows)
        }
    }

    /// SQL conditions over `fhirObservation o` for a filter, and their arguments.
    static func sql(_ filter: ObservationFilter) -> ([String], StatementArguments) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        func oneOf(_ column: String, _ values: [String]) {
            guard !values.isEmpty else { conditions.append("0"); return }   // an empty value matches nothing
            conditions.append("\(column) IN (\(values.map { _ in "?" }.joined(separator: ",")))")
            arguments += StatementArguments(values)
        }
        for condition in filter.conditions {
            switch condition {
            case .ids(let ids): oneOf("o.id", ids)
            case .statuses(let statuses): oneOf("o.status", statuses)
            case .subjects(let subjects): oneOf("o.subject", subjects)
            case .devices(let devices): oneOf("o.device", devices)
            case .derivedFromStudies(let studies):
                guard !studies.isEmpty else { conditions.append("0"); continue }
                conditions.append("""
                    o.id IN (SELECT observationID FROM fhirObservationDerivedFrom WHERE studyInstanceUID IN \
                    (\(studies.map { _ in "?" }.joined(separator: ","))))
                    """)
                arguments += StatementArguments(studies)
            case .tokens(let parameter, let alternatives):
                var parts: [String] = []
                for match in alternatives {
                    var clause = ["parameter = ?"]
                    arguments += [parameter]
                    if let code = match.code { clause.append("code = ?"); arguments += [code] }
                    if let system = match.system { clause.append("system = ?"); arguments += [system] }
                    if match.requiresNoSystem { clause.append("system = ''") }
                    parts.append("(" + clause.joined(separator: " AND ") + ")")
                }
                conditions.append(parts.isEmpty ? "0"
                    : "o.id IN (SELECT observationID FROM fhirObservationToken WHERE \(parts.joined(separator: " OR ")))")
            case .effective(let after, let before):
                conditions.append("o.effective != ''")
                if let after { conditions.append("o.effective \(after.inclusive ? ">=" : ">") ?"); arguments += [after.value] }
                if let before { conditions.append("o.effective \(before.inclusive ? "<=" : "<") ?"); arguments += [before.value] }
            }
        }
        return (conditions, arguments)
    }

    func observationStudyReferences() throws -> [(observationID: String, studyInstanceUID: String)] {
        try gate.reader(pool).read { db in
            try Row.fetchAll(db, sql: """
                SELECT d.observationID, d.studyInstanceUID FROM fhirObservationDerivedFrom d
                JOIN fhirObservation o ON o.id = d.observationID WHERE o.deleted = 0 ORDER BY d.observationID
                """).map { (observationID: $0[0] as String, studyInstanceUID: $0[1] as String) }
        }
    }

    func adopt(_ legacy: [LegacyObservation]) throws {
        try gatedWriteSync { db in
            for item in legacy {
                let record = item.record
                guard try Int.fetchOne(db, sql: "SELECT 1 FROM fhirObservation WHERE id = ?", arguments: [record.id]) == nil else {
                    continue
                }
                try db.execute(sql: """
                    INSERT INTO fhirObservation (id, versionId, lastUpdated, deleted, status, subject, effective, device, json)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [record.id, record.versionId, record.lastUpdated, record.deleted ? 1 : 0, item.values.status,
                                     item.values.subject, item.values.effective, item.values.device, record.json])
                try Self.replaceSearchValues(of: record.id, with: item.values, db)
            }
        }
    }
}
