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
        var clause = WhereClause()
        clause.add("id = ?", filter.id)
        clause.add("principal = ?", filter.principal)
        clause.add("id IN (SELECT recordID FROM accessAuditStudy WHERE studyInstanceUID = ?)", filter.studyInstanceUID)
        clause.add("method = ?", filter.method)
        clause.add("time >= ?", filter.from)
        clause.add("time <= ?", filter.to)
        clause.add("status >= ?", filter.minimumStatus)
        clause.add("status <= ?", filter.maximumStatus)
        let whereClause = clause.sql, arguments = clause.arguments
        return try await gate.reader(pool).read { db in
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
