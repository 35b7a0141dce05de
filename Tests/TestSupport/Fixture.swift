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

    /// A small valid instance with the given UIDs and attributes.
    public static func instance(study: String = "2.25.100", series: String = "2.25.200", sop: String,
                         patientName: String = "Doe^John", patientID: String = "P1", modality: String = "CT",
                         studyDate: String = "20240115", accession: String = "A1", description: String = "Chest",
                         instanceNumber: Int = 1, extra: [DataElement] = []) throws -> [UInt8] {
        var ds = DataSet()
        ds.setString(.specificCharacterSet, vr: .CS, "ISO_IR 192")
        ds.characterSet = .utf8
        ds.setString(.sopClassUID, vr: .UI, "1.2.840.10008.5.1.4.1.1.7")
        ds.setString(.sopInstanceUID, vr: .UI, sop)
        ds.setString(.studyInstanceUID, vr: .UI, study)
        ds.setString(.seriesInstanceUID, vr: .UI, series)
        ds.setString(.patientName, vr: .PN, patientName)
        ds.setString(.patientID, vr: .LO, patientID)
        ds.setString(.modality, vr: .CS, modality)
        ds.setString(.studyDate, vr: .DA, studyDate)
        ds.setString(.accessionNumber, vr: .SH, accession)
        ds.setString(.studyDescription, vr: .LO, description)
        ds.setString(.instanceNumber, vr: .IS, String(instanceNumber))
        ds.setString(.seriesNumber, vr: .IS, "1")
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
