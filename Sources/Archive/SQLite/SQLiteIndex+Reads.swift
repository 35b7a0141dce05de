import DICOM
import Foundation
import GRDB

/// Retrieval, QIDO and summary reads of the index.
extension SQLiteIndex {
    /// SQL conditions (over `study`, `series`, `instance` joined) for a selector, and their arguments.
    static func conditions(_ selector: InstanceSelector) -> (sql: String, arguments: StatementArguments) {
        var sql = "study.studyInstanceUID = ?"
        var arguments: StatementArguments = [selector.study]
        if let series = selector.series { sql += " AND series.seriesInstanceUID = ?"; arguments += [series] }
        if let instance = selector.instance { sql += " AND instance.sopInstanceUID = ?"; arguments += [instance] }
        return (sql, arguments)
    }

    private static let instanceJoin = """
        FROM instance JOIN series ON series.id = instance.seriesRowID JOIN study ON study.id = instance.studyRowID
        """
    /// Series by number, instances by number: the order viewers expect.
    private static let retrievalOrder = "ORDER BY series.seriesNumber, series.id, instance.instanceNumber, instance.id"
    private static let fileColumns = """
        study.studyInstanceUID, series.seriesInstanceUID, instance.sopInstanceUID, instance.sopClassUID,
        instance.transferSyntaxUID, instance.path, instance.size
        """

    private static func indexedFile(_ row: Row) -> IndexedFile {
        IndexedFile(studyInstanceUID: row[0], seriesInstanceUID: row[1], sopInstanceUID: row[2], sopClassUID: row[3],
                    transferSyntaxUID: row[4], relativePath: row[5], size: row[6])
    }

    // MARK: Retrieval

    func storedFiles(_ selector: InstanceSelector, pointLookup: Bool) async throws -> [IndexedFile] {
        // Rows become Sendable values inside the closure, so the async read overload is used.
        pointLookup
            ? try lookup { db in try Self.storedFiles(selector, db) }
            : try await gate.reader(pool).read { db in try Self.storedFiles(selector, db) }
    }

    func representativeFiles(_ selector: InstanceSelector) async throws -> [IndexedFile] {
        try await gate.reader(pool).read { db in try Self.representativeFiles(selector, db) }
    }

    func renderingCandidates(_ selector: InstanceSelector, representativesOnly: Bool) throws -> (etag: String?, files: [IndexedFile]) {
        try lookup { db in
            (try Self.etag(selector, db),
             representativesOnly ? try Self.representativeFiles(selector, db) : try Self.storedFiles(selector, db))
        }
    }

    func studyValidator(_ selector: InstanceSelector) throws -> String? {
        try lookup { db in try Self.etag(selector, db) }
    }

    func metadata(_ selector: InstanceSelector) async throws -> (items: [[UInt8]], etag: String?) {
        let (conditions, arguments) = Self.conditions(selector)
        return try await gate.reader(pool).read { db in
            let items = try Data.fetchAll(db.cachedStatement(sql: """
                SELECT instanceMetadata.json \(Self.instanceJoin)
                JOIN instanceMetadata ON instanceMetadata.instanceRowID = instance.id
                WHERE \(conditions) \(Self.retrievalOrder)
                """), arguments: arguments)
            return (items.map { [UInt8]($0) }, try Self.etag(selector, db))
        }
    }

    func metadataETag(_ selector: InstanceSelector) async throws -> String? {
        try await gate.reader(pool).read { db in try Self.etag(selector, db) }
    }

    func existingLevels(_ selector: InstanceSelector) throws -> (study: Bool, series: Bool) {
        // Two indexed rows at most: a point lookup (no hop to the pool's queue and back).
        try lookup { db in
            let study = try Int64.fetchOne(db, sql: "SELECT id FROM study WHERE studyInstanceUID = ?", arguments: [selector.study])
            var series = false
            if let study, let uid = selector.series {
                series = try Int64.fetchOne(db, sql: "SELECT id FROM series WHERE seriesInstanceUID = ? AND studyRowID = ?",
                                            arguments: [uid, study]) != nil
            }
            return (study != nil, series)
        }
    }

    private static func storedFiles(_ selector: InstanceSelector, _ db: Database) throws -> [IndexedFile] {
        let (conditions, arguments) = Self.conditions(selector)
        // Three shapes (study, series, instance selectors): compiled once per connection. A
        // cursor decodes each row in place (fetchAll would copy every row first).
        return try Array(Row.fetchCursor(db.cachedStatement(sql: """
            SELECT \(Self.fileColumns) \(Self.instanceJoin) WHERE \(conditions) \(Self.retrievalOrder)
            """), arguments: arguments).map(Self.indexedFile))
    }

    /// Of each series the selector names (in series order), its middle instance (by instance
    /// number), then its first three. Each is a seek in the series' instance-number index: a
    /// 2,000-instance study costs a few small queries, not 2,000 decoded rows.
    private static func representativeFiles(_ selector: InstanceSelector, _ db: Database) throws -> [IndexedFile] {
        var seriesSQL = """
            SELECT series.id, series.numberOfSeriesRelatedInstances FROM series JOIN study ON study.id = series.studyRowID
            WHERE study.studyInstanceUID = ?
            """
        var arguments: StatementArguments = [selector.study]
        if let series = selector.series { seriesSQL += " AND series.seriesInstanceUID = ?"; arguments += [series] }
        let series = try Row.fetchAll(db.cachedStatement(sql: seriesSQL + " ORDER BY series.seriesNumber, series.id"),
                                      arguments: arguments).map { ($0[0] as Int64, $0[1] as Int) }
        let instances = try db.cachedStatement(sql: """
            SELECT \(Self.fileColumns)
            \(Self.instanceJoin) WHERE instance.seriesRowID = ? ORDER BY instance.instanceNumber, instance.id LIMIT 1 OFFSET ?
            """)
        var result: [IndexedFile] = []
        for (rowID, count) in series {
            let middle = count / 2
            for offset in [middle] + (0..<min(3, count)).filter({ $0 != middle }) {
                result += try Row.fetchAll(instances, arguments: [rowID, offset]).map(Self.indexedFile)
            }
        }
        return result
    }

    /// Changes whenever an instance of the study is added, replaced or removed (the study row's
    /// instance count and update time), so it is safe for series and instances too (an ETag
    /// only has to be unique per URL).
    private static func etag(_ selector: InstanceSelector, _ db: Database) throws -> String? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT id, numberOfStudyRelatedInstances, updatedAt FROM study WHERE studyInstanceUID = ?
            """), arguments: [selector.study]) else { return nil }
        let updated = (row[2] as Double).bitPattern
        return "\"\(row[0] as Int64)-\(row[1] as Int)-\(String(updated, radix: 36))\""
    }

    // MARK: QIDO

    /// Compiled QIDO statements, kept across requests for the first 256 query shapes.
    static let queryStatements = BoundedStatementCache()

    func search(_ query: QIDOQuery) async throws -> [QIDORow] {
        let plan = try SQLiteQueryPlan(query)
        return try await gate.reader(pool).read { db in
            try Row.fetchAll(Self.queryStatements.statement(db, sql: plan.sql), arguments: StatementArguments(plan.arguments))
                .map(Self.qidoRow)
        }
    }

    private static func qidoRow(_ row: Row) -> QIDORow {
        var values: [String: QIDORow.Value] = [:]
        for (column, value) in row {
            switch value.storage {
            case .string(let text): values[column] = .text(text)
            case .int64(let number): values[column] = .integer(number)
            case .double(let number): values[column] = .real(number)
            case .blob(let data): values[column] = .text(String(decoding: data, as: UTF8.self))
            case .null: break
            }
        }
        return QIDORow(values: values)
    }

    // MARK: Summaries (FHIR)

    private static let studyColumns = """
        study.studyInstanceUID, patient.patientKey, study.patientID, study.patientName, study.patientBirthDate,
        study.patientSex, study.studyDate, study.studyTime, study.accessionNumber, study.studyDescription,
        study.referringPhysicianName, study.modalitiesInStudy, study.numberOfStudyRelatedSeries,
        study.numberOfStudyRelatedInstances, study.updatedAt
        """

    func studySummaries(_ filter: StudyFilter, limit: Int, offset: Int) async throws -> (total: Int, studies: [StudySummary]) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        func any(_ column: String, _ values: [String]?) {
            guard let values else { return }
            if values.isEmpty { conditions.append("0"); return }
            conditions.append("\(column) IN (\(values.map { _ in "?" }.joined(separator: ",")))")
            arguments += StatementArguments(values)
        }
        any("study.studyInstanceUID", filter.studyInstanceUIDs)
        any("patient.patientKey", filter.patientKeys)
        any("study.accessionNumber", filter.accessionNumbers)
        if let modalities = filter.modalities {
            conditions.append("(" + (modalities.isEmpty ? "0" : modalities.map { _ in
                "instr(study.modalitiesInStudy, '\\' || ? || '\\') > 0" }.joined(separator: " OR ")) + ")")
            arguments += StatementArguments(modalities)
        }
        let started = "(study.studyDate || substr(study.studyTime || '000000', 1, 6))"
        if let (value, inclusive) = filter.startedAfter {
            conditions.append("study.studyDate != '' AND \(started) \(inclusive ? ">=" : ">") ?")
            arguments += [value]
        }
        if let (value, inclusive) = filter.startedBefore {
            conditions.append("study.studyDate != '' AND \(started) \(inclusive ? "<=" : "<") ?")
            arguments += [value]
        }
        if let (value, inclusive) = filter.updatedAfter {
            conditions.append("study.updatedAt \(inclusive ? ">=" : ">") ?")
            arguments += [value]
        }
        if let (value, inclusive) = filter.updatedBefore {
            conditions.append("study.updatedAt \(inclusive ? "<=" : "<") ?")
            arguments += [value]
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let from = "FROM study JOIN patient ON patient.id = study.patientRowID"
        let sqlArguments = arguments
        return try await gate.reader(pool).read { db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) \(from) \(whereClause)", arguments: sqlArguments) ?? 0
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(Self.studyColumns) \(from) \(whereClause) ORDER BY study.id LIMIT ? OFFSET ?
                """, arguments: sqlArguments + [limit, offset])
            return (total, rows.map(Self.studySummary))
        }
    }

    func seriesSummaries(studyInstanceUID: String) async throws -> [SeriesSummary] {
        try await gate.reader(pool).read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT series.id, series.seriesInstanceUID, series.seriesNumber, series.modality, series.seriesDescription,
                       series.bodyPartExamined, series.numberOfSeriesRelatedInstances,
                       instance.sopInstanceUID, instance.sopClassUID, instance.instanceNumber
                FROM study JOIN series ON series.studyRowID = study.id JOIN instance ON instance.seriesRowID = series.id
                WHERE study.studyInstanceUID = ?
                ORDER BY series.seriesNumber, series.id, instance.instanceNumber, instance.id
                """, arguments: [studyInstanceUID])
            var result: [SeriesSummary] = []
            var instances: [SeriesSummary.Instance] = []
            var current: Row?
            func flush() {
                guard let row = current else { return }
                result.append(SeriesSummary(seriesInstanceUID: row[1], seriesNumber: row[2], modality: row[3],
                                            seriesDescription: row[4], bodyPartExamined: row[5], numberOfInstances: row[6],
                                            instances: instances))
                instances = []
            }
            for row in rows {
                if current.map({ ($0[0] as Int64) != (row[0] as Int64) }) ?? true {
                    flush()
                    current = row.copy()
                }
                instances.append(SeriesSummary.Instance(sopInstanceUID: row[7], sopClassUID: row[8], instanceNumber: row[9]))
            }
            flush()
            return result
        }
    }

    func patientSummaries(keys: [String]?, patientIDs: [String]?, limit: Int, offset: Int) async throws
        -> (total: Int, patients: [PatientSummary]) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let keys {
            conditions.append(keys.isEmpty ? "0" : "patientKey IN (\(keys.map { _ in "?" }.joined(separator: ",")))")
            arguments += StatementArguments(keys)
        }
        if let patientIDs {
            conditions.append(patientIDs.isEmpty ? "0" : "patientID IN (\(patientIDs.map { _ in "?" }.joined(separator: ",")))")
            arguments += StatementArguments(patientIDs)
        }
        // A patient whose studies were all deleted is no longer in the archive.
        conditions.append("EXISTS (SELECT 1 FROM study WHERE study.patientRowID = patient.id)")
        let whereClause = "WHERE " + conditions.joined(separator: " AND ")
        let sqlArguments = arguments
        return try await gate.reader(pool).read { db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM patient \(whereClause)", arguments: sqlArguments) ?? 0
            let rows = try Row.fetchAll(db, sql: """
                SELECT patientKey, patientID, patientName, patientBirthDate, patientSex FROM patient \(whereClause)
                ORDER BY id LIMIT ? OFFSET ?
                """, arguments: sqlArguments + [limit, offset])
            return (total, rows.map { PatientSummary(key: $0[0], patientID: $0[1], patientName: $0[2], birthDate: $0[3], sex: $0[4]) })
        }
    }

    private static func studySummary(_ row: Row) -> StudySummary {
        StudySummary(
            studyInstanceUID: row[0],
            patient: PatientSummary(key: row[1], patientID: row[2], patientName: row[3], birthDate: row[4], sex: row[5]),
            studyDate: row[6], studyTime: row[7], accessionNumber: row[8], studyDescription: row[9],
            referringPhysicianName: row[10],
            modalities: (row[11] as String).split(separator: "\\").map(String.init),
            numberOfSeries: row[12], numberOfInstances: row[13], updatedAt: row[14])
    }
}
