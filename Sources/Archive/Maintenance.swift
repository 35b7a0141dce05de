import DICOM
import Foundation
import GRDB

/// What `verify` found: the index and the files should describe the same instances.
public struct VerifyReport: Sendable {
    public var filesWithoutRows: [String] = []
    public var rowsWithoutFiles: [String] = []
    public var checksumMismatches: [String] = []
    public var instancesChecked = 0

    public var isClean: Bool { filesWithoutRows.isEmpty && rowsWithoutFiles.isEmpty && checksumMismatches.isEmpty }
}

extension Archive {
    /// Compares the index with the files: files without rows, rows without files, checksums.
    public func verify() throws -> VerifyReport {
        var report = VerifyReport()
        let indexed = try index.allInstanceFiles()
        var indexedPaths = Set<String>()
        for entry in indexed {
            indexedPaths.insert(entry.path)
            let url = store.url(forRelativePath: entry.path)
            guard FileManager.default.fileExists(atPath: url.path) else {
                report.rowsWithoutFiles.append(entry.sopInstanceUID)
                continue
            }
            let (size, crc) = try Self.sizeAndChecksum(of: url)
            if size != entry.size || crc != entry.crc32 { report.checksumMismatches.append(entry.sopInstanceUID) }
            report.instancesChecked += 1
        }
        for path in store.allRelativePaths() where !indexedPaths.contains(path) {
            report.filesWithoutRows.append(path)
        }
        return report
    }

    /// Rebuilds the index from the files alone: drops every row, then indexes each file, a batch
    /// of files per transaction (one commit per file made a million-instance reindex take hours).
    /// Returns the number of instances indexed and the files that could not be read.
    public func reindex(batchSize: Int = 2_000) throws -> (indexed: Int, failures: [(path: String, reason: String)]) {
        var failures: [(String, String)] = []
        var indexed = 0
        try index.pool.write { db in
            try db.execute(sql: "DELETE FROM instance; DELETE FROM series; DELETE FROM study; DELETE FROM patient;")
        }
        let paths = store.allRelativePaths()
        for start in stride(from: 0, to: paths.count, by: batchSize) {
            var batch: [ArchiveIndex.NewInstance] = []
            for path in paths[start..<min(start + batchSize, paths.count)] {
                do {
                    batch.append(try indexEntry(forStoredFile: path))
                } catch {
                    failures.append((path, "\(error)"))
                }
            }
            let rejected = try index.pool.write { db in
                var rejected: [(String, String)] = []
                for new in batch {
                    do {
                        try db.inSavepoint {
                            if try ArchiveIndex.storedInstance(db, new.attributes.sopInstanceUID) == nil {
                                try ArchiveIndex.insert(new, replacing: false, db)
                            }
                            return .commit
                        }
                    } catch {
                        rejected.append((new.path, "\(error)"))
                    }
                }
                return rejected
            }
            failures += rejected
            indexed += batch.count - rejected.count
        }
        return (indexed, failures)
    }
}
