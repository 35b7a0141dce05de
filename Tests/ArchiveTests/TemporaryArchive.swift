@testable import Archive
import GRDB
import DICOM
import Foundation
import Testing
import TestSupport

/// A fresh archive in a temporary folder, removed when the test ends.
final class TemporaryArchive {
    let directory: URL
    let archive: Archive

    init(policy: DuplicatePolicy = .reject, quietPeriod: Duration = .seconds(10),
         storageTranscoder: (any Part10Transcoding)? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-test-\(UUID().uuidString)")
        archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: directory, duplicatePolicy: policy,
                                                                  studyQuietPeriod: quietPeriod, storageTranscoder: storageTranscoder))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

extension Archive {
    /// The embedded index, for tests that reach into its tables.
    var sqliteIndex: SQLiteIndex { index as! SQLiteIndex }
}
