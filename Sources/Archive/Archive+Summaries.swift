import DICOM
import Foundation

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
    /// Studies matching the filter, ordered by study row (oldest first), and how many match in all.
    public func studySummaries(_ filter: StudyFilter, limit: Int, offset: Int) async throws -> (total: Int, studies: [StudySummary]) {
        try await index.studySummaries(filter, limit: limit, offset: offset)
    }

    /// The series of a study with their instances, by series and instance number (one query).
    public func seriesSummaries(studyInstanceUID: String) async throws -> [SeriesSummary] {
        try await index.seriesSummaries(studyInstanceUID: studyInstanceUID)
    }

    /// Patients by key, Patient ID (identifier), or all; ordered by row, with the total.
    public func patientSummaries(keys: [String]?, patientIDs: [String]?, limit: Int, offset: Int) async throws
        -> (total: Int, patients: [PatientSummary]) {
        try await index.patientSummaries(keys: keys, patientIDs: patientIDs, limit: limit, offset: offset)
    }
}

extension Archive {
    /// How many studies, series and instances the index holds.
    public func counts() throws -> (studies: Int, series: Int, instances: Int) {
        try index.counts()
    }
}
