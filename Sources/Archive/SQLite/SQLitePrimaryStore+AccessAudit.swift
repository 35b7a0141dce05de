import Foundation
import GRDB

/// The access audit in `primary.sqlite`: one row per request, and the studies each named.
extension SQLitePrimaryStore {
    func recordAccess(_ records: [AccessRecord]) async throws {
        try await gatedWrite { db in
            for record in records {
                try db.execute(sql: """
                    INSERT INTO accessAudit (time, principal, roles, clientAddress, method, path, status, bytes)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [record.time, record.principal, record.roles.joined(separator: ","), record.clientAddress,
                                     record.method, record.path, record.status, record.bytes])
                let id = db.lastInsertedRowID
                for study in Set(record.studies) {
                    try db.execute(sql: "INSERT INTO accessAuditStudy (recordID, studyInstanceUID) VALUES (?, ?)",
                                   arguments: [id, study])
                }
            }
        }
    }

    func accessRecords(_ filter: AccessRecordFilter, limit: Int, offset: Int) async throws -> (total: Int, records: [AccessRecord]) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        func add(_ condition: String, _ value: (any DatabaseValueConvertible)?) {
            guard let value else { return }
            conditions.append(condition)
            arguments += [value]
        }
        add("id = ?", filter.id)
        add("principal = ?", filter.principal)
        add("id IN (SELECT recordID FROM accessAuditStudy WHERE studyInstanceUID = ?)", filter.studyInstanceUID)
        add("method = ?", filter.method)
        add("time >= ?", filter.from)
        add("time <= ?", filter.to)
        add("status >= ?", filter.minimumStatus)
        add("status <= ?", filter.maximumStatus)
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try await gate.reader(pool).read { [arguments] db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM accessAudit \(whereClause)", arguments: arguments) ?? 0
            var records = try Row.fetchAll(db, sql: """
                SELECT id, time, principal, roles, clientAddress, method, path, status, bytes
                FROM accessAudit \(whereClause) ORDER BY time DESC, id DESC LIMIT ? OFFSET ?
                """, arguments: arguments + [limit, offset]).map { row in
                let roles: String = row["roles"]
                return AccessRecord(id: row["id"], time: row["time"], principal: row["principal"],
                                    roles: roles.split(separator: ",").map(String.init), clientAddress: row["clientAddress"],
                                    method: row["method"], path: row["path"], studies: [], status: row["status"], bytes: row["bytes"])
            }
            for index in records.indices {
                records[index].studies = try String.fetchAll(db, sql: """
                    SELECT studyInstanceUID FROM accessAuditStudy WHERE recordID = ? ORDER BY studyInstanceUID
                    """, arguments: [records[index].id])
            }
            return (total, records)
        }
    }

    func pruneAccessRecords(before time: Double) async throws -> Int {
        try await gatedWrite { db in
            try db.execute(sql: "DELETE FROM accessAudit WHERE time < ?", arguments: [time])
            return db.changesCount
        }
    }
}
