import Foundation
import GRDB

/// The enrichment queue, its runs and batches, and study generations, in `primary.sqlite`.
extension SQLitePrimaryStore {
    private static let jobColumns = """
        id, idempotencyKey, studyInstanceUID, generation, analyzer, analyzerVersion, trigger, batchID, status, attempts,
        notBefore, createdAt, updatedAt, lastError, outputs
        """

    private static func job(_ row: Row) -> AnalysisJob? {
        guard let trigger = AnalysisTrigger(rawValue: row["trigger"]), let status = AnalysisJobStatus(rawValue: row["status"]) else {
            return nil
        }
        return AnalysisJob(id: row["id"], idempotencyKey: row["idempotencyKey"], studyInstanceUID: row["studyInstanceUID"],
                           generation: row["generation"], analyzer: row["analyzer"], analyzerVersion: row["analyzerVersion"],
                           trigger: trigger, batchID: row["batchID"], status: status, attempts: row["attempts"],
                           notBefore: row["notBefore"], createdAt: row["createdAt"], updatedAt: row["updatedAt"],
                           lastError: row["lastError"], outputs: decodeOutputs(row["outputs"]))
    }

    private static func decodeOutputs(_ text: String?) -> AnalysisOutputs? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(AnalysisOutputs.self, from: Data(text.utf8))
    }

    private static func encodeOutputs(_ outputs: AnalysisOutputs?) -> String? {
        guard let outputs, let data = try? JSONEncoder().encode(outputs) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    func enqueueAnalyses(_ requests: [AnalysisJobRequest], batch: (id: String, description: String)?, now: Double) async throws -> Int {
        try await gatedWrite { db in
            if let batch {
                try db.execute(sql: "INSERT OR IGNORE INTO aiBatch (id, createdAt, description) VALUES (?, ?, ?)",
                               arguments: [batch.id, now, batch.description])
            }
            var added = 0
            for request in requests {
                try db.execute(sql: """
                    INSERT INTO aiJob (idempotencyKey, studyInstanceUID, generation, analyzer, analyzerVersion, trigger, batchID,
                        status, attempts, notBefore, createdAt, updatedAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?)
                    ON CONFLICT (idempotencyKey) DO NOTHING
                    """, arguments: [request.idempotencyKey, request.studyInstanceUID, request.generation, request.analyzer,
                                     request.analyzerVersion, request.trigger.rawValue, request.batchID, now, now, now])
                if db.changesCount > 0 {
                    added += 1
                } else if request.reopenFinished {
                    try db.execute(sql: """
                        UPDATE aiJob SET status = 'queued', attempts = 0, notBefore = ?, updatedAt = ?, trigger = ?, batchID = coalesce(?, batchID)
                        WHERE idempotencyKey = ? AND status IN ('failed', 'skipped', 'cancelled')
                        """, arguments: [now, now, request.trigger.rawValue, request.batchID, request.idempotencyKey])
                    added += db.changesCount
                }
            }
            return added
        }
    }

    func claimAnalysisJobs(limit: Int, now: Double) async throws -> [AnalysisJob] {
        try await gatedWrite { db in
            // Retrospective batches after everything else, so a large one never holds back live
            // studies; jobs of a cancelled batch are never claimed.
            let ids = try Int64.fetchAll(db, sql: """
                SELECT aiJob.id FROM aiJob LEFT JOIN aiBatch ON aiBatch.id = aiJob.batchID
                WHERE aiJob.status = 'queued' AND aiJob.notBefore <= ? AND aiBatch.cancelledAt IS NULL
                ORDER BY aiJob.trigger = 'batch', aiJob.notBefore, aiJob.id LIMIT ?
                """, arguments: [now, limit])
            var jobs: [AnalysisJob] = []
            for id in ids {
                try db.execute(sql: "UPDATE aiJob SET status = 'running', attempts = attempts + 1, updatedAt = ? WHERE id = ?",
                               arguments: [now, id])
                if let row = try Row.fetchOne(db, sql: "SELECT \(Self.jobColumns) FROM aiJob WHERE id = ?", arguments: [id]),
                   let job = Self.job(row) {
                    jobs.append(job)
                }
            }
            return jobs
        }
    }

    func requeueInterruptedAnalyses(maximumAttempts: Int, now: Double) async throws -> (requeued: Int, failed: Int) {
        try await gatedWrite { db in
            // A job whose every attempt ended with the process (a crash it causes) stops here.
            let reason = "the process stopped during each of its \(maximumAttempts) attempts"
            try db.execute(sql: """
                INSERT INTO aiRun (jobID, studyInstanceUID, analyzer, analyzerVersion, trigger, attempt, startedAt, runtime, status, reason)
                SELECT id, studyInstanceUID, analyzer, analyzerVersion, trigger, attempts, updatedAt, 0, 'failed', ?
                FROM aiJob WHERE status = 'running' AND attempts >= ?
                """, arguments: [reason, maximumAttempts])
            try db.execute(sql: """
                UPDATE aiJob SET status = 'failed', updatedAt = ?, lastError = ? WHERE status = 'running' AND attempts >= ?
                """, arguments: [now, reason, maximumAttempts])
            let failed = db.changesCount
            try db.execute(sql: "UPDATE aiJob SET status = 'queued', notBefore = ?, updatedAt = ? WHERE status = 'running'",
                           arguments: [now, now])
            return (db.changesCount, failed)
        }
    }

    func choosePredecessor(job: Int64) async throws -> AnalysisJob? {
        try await gatedWrite { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT studyInstanceUID, analyzer, analyzerVersion, generation, predecessorChosen, predecessorJobID FROM aiJob WHERE id = ?
                """, arguments: [job]) else { return nil }
            var predecessor: Int64? = row["predecessorJobID"]
            if row["predecessorChosen"] as Int == 0 {
                predecessor = try Int64.fetchOne(db, sql: """
                    SELECT id FROM aiJob
                    WHERE studyInstanceUID = ? AND analyzer = ? AND analyzerVersion = ? AND generation < ? AND status = 'succeeded'
                    ORDER BY generation DESC LIMIT 1
                    """, arguments: [row["studyInstanceUID"] as String, row["analyzer"] as String, row["analyzerVersion"] as String,
                                     row["generation"] as Int])
                try db.execute(sql: "UPDATE aiJob SET predecessorChosen = 1, predecessorJobID = ? WHERE id = ?",
                               arguments: [predecessor, job])
            }
            guard let predecessor else { return nil }
            return try Row.fetchOne(db, sql: "SELECT \(Self.jobColumns) FROM aiJob WHERE id = ?", arguments: [predecessor]).flatMap(Self.job)
        }
    }

    func finishAnalysisAttempt(job: AnalysisJob, _ outcome: AnalysisAttemptOutcome, now: Double) async throws {
        let outputs = Self.encodeOutputs(outcome.outputs)
        try await gatedWrite { db in
            if outcome.recordsRun {
                try db.execute(sql: """
                    INSERT INTO aiRun (jobID, studyInstanceUID, analyzer, analyzerVersion, trigger, attempt, startedAt, runtime, status,
                        reason, outputs)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [job.id, job.studyInstanceUID, job.analyzer, job.analyzerVersion, job.trigger.rawValue, job.attempts,
                                     outcome.startedAt, outcome.runtime, outcome.runStatus.rawValue, outcome.reason, outputs])
            }
            // A retry of a job whose batch was cancelled meanwhile is cancelled instead; a deferred
            // attempt (never sent) gives its attempt back.
            try db.execute(sql: """
                UPDATE aiJob SET
                    status = CASE WHEN ? = 'queued' AND EXISTS (SELECT 1 FROM aiBatch WHERE aiBatch.id = aiJob.batchID
                                                                AND aiBatch.cancelledAt IS NOT NULL)
                             THEN 'cancelled' ELSE ? END,
                    attempts = attempts - ?, notBefore = coalesce(?, notBefore), updatedAt = ?, lastError = ?,
                    outputs = coalesce(?, outputs)
                WHERE id = ? AND status = 'running'
                """, arguments: [outcome.jobStatus.rawValue, outcome.jobStatus.rawValue, outcome.recordsRun ? 0 : 1, outcome.retryAt, now,
                                 outcome.runStatus == .succeeded ? nil : outcome.reason, outputs, job.id])
        }
    }

    func analysisJob(id: Int64) async throws -> AnalysisJob? {
        try await gate.reader(pool).read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.jobColumns) FROM aiJob WHERE id = ?", arguments: [id]).flatMap(Self.job)
        }
    }

    func analysisJobs(studyInstanceUID: String) async throws -> [AnalysisJob] {
        try await gate.reader(pool).read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.jobColumns) FROM aiJob WHERE studyInstanceUID = ? ORDER BY id",
                             arguments: [studyInstanceUID]).compactMap(Self.job)
        }
    }

    func analysisQueueDepth() async throws -> (queued: Int, running: Int) {
        try await gate.reader(pool).read { db in
            let queued = try Int.fetchOne(db, sql: "SELECT count(*) FROM aiJob WHERE status = 'queued'") ?? 0
            let running = try Int.fetchOne(db, sql: "SELECT count(*) FROM aiJob WHERE status = 'running'") ?? 0
            return (queued, running)
        }
    }

    func nextAnalysisDue() async throws -> Double? {
        try await gate.reader(pool).read { db in try Double.fetchOne(db, sql: "SELECT min(notBefore) FROM aiJob WHERE status = 'queued'") }
    }

    func analysisRuns(_ filter: AnalysisRunFilter, limit: Int, offset: Int) async throws -> (total: Int, runs: [AnalysisRun]) {
        var clause = WhereClause()
        clause.add("studyInstanceUID = ?", filter.studyInstanceUID)
        clause.add("analyzer = ?", filter.analyzer)
        clause.add("analyzerVersion = ?", filter.analyzerVersion)
        clause.add("status = ?", filter.status?.rawValue)
        clause.add("jobID = ?", filter.jobID)
        clause.add("startedAt >= ?", filter.startedFrom)
        clause.add("startedAt <= ?", filter.startedTo)
        let whereClause = clause.sql, arguments = clause.arguments
        return try await gate.reader(pool).read { db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM aiRun \(whereClause)", arguments: arguments) ?? 0
            let runs = try Row.fetchAll(db, sql: """
                SELECT id, jobID, studyInstanceUID, analyzer, analyzerVersion, trigger, attempt, startedAt, runtime, status, reason, outputs
                FROM aiRun \(whereClause) ORDER BY startedAt DESC, id DESC LIMIT ? OFFSET ?
                """, arguments: arguments + [limit, offset]).compactMap { row -> AnalysisRun? in
                guard let trigger = AnalysisTrigger(rawValue: row["trigger"]),
                      let status = AnalysisRunStatus(rawValue: row["status"]) else { return nil }
                return AnalysisRun(id: row["id"], jobID: row["jobID"], studyInstanceUID: row["studyInstanceUID"],
                                   analyzer: row["analyzer"], analyzerVersion: row["analyzerVersion"], trigger: trigger,
                                   attempt: row["attempt"], startedAt: row["startedAt"], runtime: row["runtime"], status: status,
                                   reason: row["reason"], outputs: Self.decodeOutputs(row["outputs"]))
            }
            return (total, runs)
        }
    }

    func analyzerStatistics() async throws -> [AnalyzerRunStatistics] {
        try await gate.reader(pool).read { db in
            var counts: [String: [AnalysisRunStatus: Int]] = [:]
            var names: [String: (String, String)] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT analyzer, analyzerVersion, status, count(*) FROM aiRun GROUP BY analyzer, analyzerVersion, status
                """) {
                let key = "\(row[0] as String)@\(row[1] as String)"
                names[key] = (row[0], row[1])
                if let status = AnalysisRunStatus(rawValue: row[2]) { counts[key, default: [:]][status] = row[3] }
            }
            var open: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT analyzer, analyzerVersion, count(*) FROM aiJob WHERE status IN ('queued', 'running') GROUP BY analyzer, analyzerVersion
                """) {
                let key = "\(row[0] as String)@\(row[1] as String)"
                names[key] = (row[0], row[1])
                open[key] = row[2]
            }
            return try names.keys.sorted().map { key in
                let (analyzer, version) = names[key]!
                let last = try Double.fetchOne(db, sql: "SELECT max(startedAt) FROM aiRun WHERE analyzer = ? AND analyzerVersion = ?",
                                               arguments: [analyzer, version])
                let error = try Row.fetchOne(db, sql: """
                    SELECT reason, startedAt FROM aiRun WHERE analyzer = ? AND analyzerVersion = ? AND status IN ('failed', 'timed-out')
                    ORDER BY startedAt DESC, id DESC LIMIT 1
                    """, arguments: [analyzer, version])
                return AnalyzerRunStatistics(analyzer: analyzer, analyzerVersion: version, runsByStatus: counts[key] ?? [:],
                                             openJobs: open[key] ?? 0, lastRunAt: last, lastError: error?[0], lastErrorAt: error?[1])
            }
        }
    }

    func analysisBatch(id: String) async throws -> AnalysisBatch? {
        try await gate.reader(pool).read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT createdAt, description, cancelledAt FROM aiBatch WHERE id = ?",
                                             arguments: [id]) else { return nil }
            var byStatus: [AnalysisJobStatus: Int] = [:]
            for count in try Row.fetchAll(db, sql: "SELECT status, count(*) FROM aiJob WHERE batchID = ? GROUP BY status",
                                          arguments: [id]) {
                if let status = AnalysisJobStatus(rawValue: count[0]) { byStatus[status] = count[1] }
            }
            return AnalysisBatch(id: id, createdAt: row[0], description: row[1], cancelledAt: row[2], jobsByStatus: byStatus)
        }
    }

    func cancelAnalysisBatch(id: String, now: Double) async throws -> Bool {
        try await gatedWrite { db in
            try db.execute(sql: "UPDATE aiBatch SET cancelledAt = coalesce(cancelledAt, ?) WHERE id = ?", arguments: [now, id])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: """
                UPDATE aiJob SET status = 'cancelled', updatedAt = ?, lastError = 'the batch was cancelled'
                WHERE batchID = ? AND status = 'queued'
                """, arguments: [now, id])
            return true
        }
    }

    func stableGeneration(study: String) async throws -> Int {
        try await gate.reader(pool).read { db in
            try Int.fetchOne(db, sql: "SELECT generation FROM studyGeneration WHERE studyInstanceUID = ?", arguments: [study]) ?? 0
        }
    }

    // MARK: Other FHIR resources

    func storedResource(type: String, id: String) async throws -> StoredResourceRecord? {
        try await gate.reader(pool).read { db in
            try Row.fetchOne(db, sql: "SELECT versionId, lastUpdated, json FROM fhirResource WHERE resourceType = ? AND id = ?",
                             arguments: [type, id]).map {
                StoredResourceRecord(resourceType: type, id: id, versionId: $0[0], lastUpdated: $0[1], json: $0[2])
            }
        }
    }

    func writeStoredResource(type: String, id: String, values: StoredResourceValues, now: Double,
                             render: @escaping @Sendable (Int, Double) throws -> String) async throws -> StoredResourceRecord {
        try await gatedWrite { db in
            if let current = try Row.fetchOne(db, sql: """
                SELECT versionId, lastUpdated, json FROM fhirResource WHERE resourceType = ? AND id = ?
                """, arguments: [type, id]) {
                let record = StoredResourceRecord(resourceType: type, id: id, versionId: current[0], lastUpdated: current[1], json: current[2])
                if try render(record.versionId, record.lastUpdated) == record.json { return record }
                let json = try render(record.versionId + 1, now)
                try db.execute(sql: """
                    UPDATE fhirResource SET versionId = ?, lastUpdated = ?, status = ?, subject = ?, studyInstanceUID = ?, codeSystem = ?,
                        code = ?, device = ?, json = ? WHERE resourceType = ? AND id = ?
                    """, arguments: [record.versionId + 1, now, values.status, values.subject, values.studyInstanceUID,
                                     values.codeSystem, values.code, values.device, json, type, id])
                return StoredResourceRecord(resourceType: type, id: id, versionId: record.versionId + 1, lastUpdated: now, json: json)
            }
            let json = try render(1, now)
            try db.execute(sql: """
                INSERT INTO fhirResource (resourceType, id, versionId, lastUpdated, status, subject, studyInstanceUID, codeSystem, code,
                    device, json) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [type, id, now, values.status, values.subject, values.studyInstanceUID, values.codeSystem,
                                 values.code, values.device, json])
            return StoredResourceRecord(resourceType: type, id: id, versionId: 1, lastUpdated: now, json: json)
        }
    }

    func searchStoredResources(_ filter: StoredResourceFilter, limit: Int, offset: Int) async throws -> (total: Int, resources: [String]) {
        var conditions = ["resourceType = ?"]
        var arguments: StatementArguments = [filter.resourceType]
        func oneOf(_ column: String, _ values: [String]) {
            guard !values.isEmpty else { conditions.append("0"); return }
            conditions.append("\(column) IN (\(values.map { _ in "?" }.joined(separator: ",")))")
            arguments += StatementArguments(values)
        }
        for condition in filter.conditions {
            switch condition {
            case .ids(let ids): oneOf("id", ids)
            case .statuses(let statuses): oneOf("status", statuses)
            case .subjects(let subjects): oneOf("subject", subjects)
            case .studies(let studies): oneOf("studyInstanceUID", studies)
            case .devices(let devices): oneOf("device", devices)
            case .codes(let codes):
                guard !codes.isEmpty else { conditions.append("0"); continue }
                conditions.append("(" + codes.map { code in
                    arguments += [code.code]
                    guard let system = code.system else { return "code = ?" }
                    arguments += [system]
                    return "(code = ? AND codeSystem = ?)"
                }.joined(separator: " OR ") + ")")
            }
        }
        let whereClause = conditions.joined(separator: " AND ")
        return try await gate.reader(pool).read { [arguments] db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM fhirResource WHERE \(whereClause)", arguments: arguments) ?? 0
            let rows = try String.fetchAll(db, sql: """
                SELECT json FROM fhirResource WHERE \(whereClause) ORDER BY lastUpdated, id LIMIT ? OFFSET ?
                """, arguments: arguments + [limit, offset])
            return (total, rows)
        }
    }
}
