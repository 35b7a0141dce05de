import DICOM
import Foundation
import GRDB

/// A patient as the index knows it (one per Patient ID + Patient's Name, like the index's rows).
public struct PatientSummary: Sendable, Hashable {
    /// Stable across restarts and reindexing: derived from Patient ID and Patient's Name only.
    public let key: String
    public let patientID: String
    public let patientName: String
    public let birthDate: String
    public let sex: String
}

/// A study with what the index keeps about it.
public struct StudySummary: Sendable, Hashable {
    public let studyInstanceUID: String
    public let patient: PatientSummary
    public let studyDate: String
    public let studyTime: String
    public let accessionNumber: String
    public let studyDescription: String
    public let referringPhysicianName: String
    public let modalities: [String]
    public let numberOfSeries: Int
    public let numberOfInstances: Int
    /// Seconds since 1970 of the last change (instance added, replaced or removed).
    public let updatedAt: Double
}

public struct SeriesSummary: Sendable, Hashable {
    public struct Instance: Sendable, Hashable {
        public let sopInstanceUID: String
        public let sopClassUID: String
        public let instanceNumber: Int?
    }

    public let seriesInstanceUID: String
    public let seriesNumber: Int?
    public let modality: String
    public let seriesDescription: String
    public let bodyPartExamined: String
    public let numberOfInstances: Int
    public let instances: [Instance]
}

/// Which studies: every condition given must hold. For APIs other than QIDO (FHIR).
public struct StudyFilter: Sendable {
    public var studyInstanceUIDs: [String]?
    public var patientKeys: [String]?
    public var accessionNumbers: [String]?
    /// Any of these modalities in the study.
    public var modalities: [String]?
    /// `YYYYMMDDHHMMSS` bounds on StudyDate+StudyTime (a missing time counts as 000000).
    public var startedAfter: (value: String, inclusive: Bool)?
    public var startedBefore: (value: String, inclusive: Bool)?
    public var updatedAfter: (value: Double, inclusive: Bool)?
    public var updatedBefore: (value: Double, inclusive: Bool)?

    public init() {}
}

public enum PatientKey {
    /// `p` and 16 hex digits of FNV-1a over Patient ID, NUL, Patient's Name.
    public static func make(patientID: String, patientName: String) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in Array(patientID.utf8) + [0] + Array(patientName.utf8) {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return "p" + String(hash, radix: 16).leftPadded(to: 16)
    }
}

extension Archive {
    private static let studyColumns = """
        study.studyInstanceUID, patient.patientKey, study.patientID, study.patientName, study.patientBirthDate,
        study.patientSex, study.studyDate, study.studyTime, study.accessionNumber, study.studyDescription,
        study.referringPhysicianName, study.modalitiesInStudy, study.numberOfStudyRelatedSeries,
        study.numberOfStudyRelatedInstances, study.updatedAt
        """

    /// Studies matching the filter, ordered by study row (oldest first), and how many match in all.
    public func studySummaries(_ filter: StudyFilter, limit: Int, offset: Int) async throws -> (total: Int, studies: [StudySummary]) {
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
        return try await index.pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) \(from) \(whereClause)", arguments: sqlArguments) ?? 0
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(Self.studyColumns) \(from) \(whereClause) ORDER BY study.id LIMIT ? OFFSET ?
                """, arguments: sqlArguments + [limit, offset])
            return (total, rows.map(Self.studySummary))
        }
    }

    /// The series of a study with their instances, by series and instance number (one query).
    public func seriesSummaries(studyInstanceUID: String) async throws -> [SeriesSummary] {
        try await index.pool.read { db in
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

    /// Patients by key, Patient ID (identifier), or all; ordered by row, with the total.
    public func patientSummaries(keys: [String]?, patientIDs: [String]?, limit: Int, offset: Int) async throws
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
        return try await index.pool.read { db in
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
