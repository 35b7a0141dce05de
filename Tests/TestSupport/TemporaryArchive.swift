import Archive
import DICOM
import Foundation

/// A fresh archive in a temporary folder, removed when the test ends: shared by every test
/// target that needs a real archive.
public final class TemporaryArchive {
    public let directory: URL
    public let archive: Archive

    public init(policy: DuplicatePolicy = .reject, quietPeriod: Duration = .seconds(10),
                storageTranscoder: (any Part10Transcoding)? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-test-\(UUID().uuidString)")
        archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: directory, duplicatePolicy: policy,
                                                                  studyQuietPeriod: quietPeriod, storageTranscoder: storageTranscoder))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}
