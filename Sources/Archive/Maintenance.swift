import DICOM
import Foundation

/// What `verify` found: the index and the files should describe the same instances.
public struct VerifyReport: Sendable {
    public var filesWithoutRows: [String] = []
    public var rowsWithoutFiles: [String] = []
    public var checksumMismatches: [String] = []
    /// Primary records that name a study the archive no longer holds (e.g. an Observation
    /// derived from a deleted study): kept, since they cannot be rebuilt, but reported.
    public var primaryRecordsWithoutStudy: [(record: String, studyInstanceUID: String)] = []
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
        let references = try primary.observationStudyReferences()
        let existing = try index.existingStudies(Set(references.map(\.studyInstanceUID)))
        for reference in references where !existing.contains(reference.studyInstanceUID) {
            report.primaryRecordsWithoutStudy.append(("Observation/\(reference.observationID)", reference.studyInstanceUID))
        }
        return report
    }

    /// A consistent copy of the primary data (`primary.sqlite`) at `destination`, taken with
    /// SQLite's online backup API; safe while a server uses the data folder.
    public static func backupPrimaryData(dataDirectory: URL, to destination: String) throws {
        try SQLitePrimaryStore.backup(storeAt: dataDirectory.appendingPathComponent(primaryStoreFileName).path, to: destination)
    }

    /// Rebuilds the index from the files alone (the primary store is not touched): drops every
    /// instance row (the outbox stays), then indexes each file, a batch
    /// of files per transaction (one commit per file made a million-instance reindex take hours).
    /// Returns the number of instances indexed and the files that could not be read (or were not
    /// indexed: of two files of one instance, the older).
    public func reindex(batchSize: Int = 2_000) throws -> (indexed: Int, failures: [(path: String, reason: String)]) {
        var failures: [(String, String)] = []
        var indexed = 0
        try index.removeAllInstances()
        let paths = store.allRelativePaths()
        for start in stride(from: 0, to: paths.count, by: batchSize) {
            var batch: [NewInstance] = []
            for path in paths[start..<min(start + batchSize, paths.count)] {
                do {
                    batch.append(try indexEntry(forStoredFile: path))
                } catch {
                    failures.append((path, "\(error)"))
                }
            }
            let store = self.store
            let (added, rejected) = try index.transactionNow { transaction in
                var added = 0
                var rejected: [(String, String)] = []
                for new in batch {
                    do {
                        try transaction.savepoint {
                            let uid = new.attributes.sopInstanceUID
                            if let existing = try transaction.storedInstance(uid) {
                                // Two files of one instance (a replacement whose replaced file
                                // was not removed): the newer is the replacement.
                                let newer = Self.modificationTime(store.url(forRelativePath: new.path))
                                    > Self.modificationTime(store.url(forRelativePath: existing.path))
                                if newer { try transaction.insert(new, replacing: true) }
                                rejected.append((newer ? existing.path : new.path,
                                                 "another file of SOP Instance UID \(uid) is newer: not indexed"))
                            } else {
                                try transaction.insert(new, replacing: false)
                                added += 1
                            }
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
