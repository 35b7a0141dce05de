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
    /// Returns the number of instances indexed and the files that could not be read (or were not
    /// indexed: of two files of one instance, the older).
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
            let store = self.store
            let (added, rejected) = try index.pool.write { db in
                var added = 0
                var rejected: [(String, String)] = []
                for new in batch {
                    do {
                        try db.inSavepoint {
                            let uid = new.attributes.sopInstanceUID
                            if let existing = try ArchiveIndex.storedInstance(db, uid) {
                                // Two files of one instance (a replacement whose replaced file
                                // was not removed): the newer is the replacement.
                                let newer = Self.modificationTime(store.url(forRelativePath: new.path))
                                    > Self.modificationTime(store.url(forRelativePath: existing.path))
                                if newer { try ArchiveIndex.insert(new, replacing: true, db) }
                                rejected.append((newer ? existing.path : new.path,
                                                 "another file of SOP Instance UID \(uid) is newer: not indexed"))
                            } else {
                                try ArchiveIndex.insert(new, replacing: false, db)
                                added += 1
                            }
                            return .commit
                        }
                    } catch {
                        rejected.append((new.path, "\(error)"))
                    }
                }
                return (added, rejected)
            }
            failures += rejected
            indexed += added
        }
        return (indexed, failures)
    }

    static func modificationTime(_ url: URL) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date) ?? .distantPast
    }
}
