import Archive
import DICOM
import Foundation

/// Test instances and fixtures shared by every test target: one builder of small valid
/// instances, the committed fixture files, and ingest with the context tests use.
public enum Fixture {
    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    public static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(relative)))
    }

    /// A small valid instance with the given UIDs and attributes (nil leaves an attribute out):
    /// the one builder of test instances for every test target.
    public static func instance(study: String = "2.25.100", series: String = "2.25.200", sop: String,
                                sopClass: String = "1.2.840.10008.5.1.4.1.1.7",
                                patientName: String = "Doe^John", patientID: String = "P1", patientSex: String? = nil,
                                birthDate: String? = nil, modality: String = "CT", studyDate: String = "20240115",
                                studyTime: String? = nil, accession: String? = "A1", description: String? = "Chest",
                                seriesNumber: Int? = 1, instanceNumber: Int? = 1, extra: [DataElement] = []) throws -> [UInt8] {
        var ds = DataSet()
        ds.setString(.specificCharacterSet, vr: .CS, "ISO_IR 192")
        ds.characterSet = .utf8
        ds.setString(.sopClassUID, vr: .UI, sopClass)
        ds.setString(.sopInstanceUID, vr: .UI, sop)
        ds.setString(.studyInstanceUID, vr: .UI, study)
        ds.setString(.seriesInstanceUID, vr: .UI, series)
        ds.setString(.patientName, vr: .PN, patientName)
        ds.setString(.patientID, vr: .LO, patientID)
        if let patientSex { ds.setString(.patientSex, vr: .CS, patientSex) }
        if let birthDate { ds.setString(.patientBirthDate, vr: .DA, birthDate) }
        ds.setString(.modality, vr: .CS, modality)
        ds.setString(.studyDate, vr: .DA, studyDate)
        if let studyTime { ds.setString(.studyTime, vr: .TM, studyTime) }
        if let accession { ds.setString(.accessionNumber, vr: .SH, accession) }
        if let description { ds.setString(.studyDescription, vr: .LO, description) }
        if let instanceNumber { ds.setString(.instanceNumber, vr: .IS, String(instanceNumber)) }
        if let seriesNumber { ds.setString(.seriesNumber, vr: .IS, String(seriesNumber)) }
        for element in extra { ds.set(element) }
        return try Part10Writer.write(ds)
    }
}

extension Archive {
    /// Tests store as `minivna import` does unless they name another context.
    public func ingest(bytes: [UInt8]) async throws -> IngestResult {
        try await ingest(bytes: bytes, context: .import)
    }

    public func ingest(stagedFiles: [StagedFile]) async -> [Result<IngestResult, ArchiveError>] {
        await ingest(stagedFiles: stagedFiles, context: .import)
    }
}
