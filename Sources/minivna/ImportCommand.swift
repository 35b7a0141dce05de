import Archive
import ArgumentParser
import DICOM
import Foundation
import Imaging

/// `minivna import PATH...`: stores every file under the paths through the normal ingest, in
/// parallel batches (one index transaction per batch), with a progress bar on a terminal and an
/// exact summary: stored, already stored, replaced, failed, and the failures grouped by reason.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Store DICOM files (folders searched recursively) into a data folder.")

    @Option(help: "Data folder (env MINIVNA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["MINIVNA_DATA"] ?? "./minivna-data"

    @Argument(help: "Files or folders.")
    var paths: [String]

    @Flag(help: "Store uncompressed images as JPEG 2000 lossless, as `serve --compress-on-ingest` does.")
    var compressOnIngest = ProcessInfo.processInfo.environment["MINIVNA_COMPRESS_ON_INGEST"] == "1"

    @Option(help: "Batches stored at once (default 4).")
    var jobs: Int = 4

    @Option(help: "Files per batch, one index transaction each (default 32).")
    var batchSize: Int = 32

    @Flag(help: "No progress bar, even on a terminal.")
    var quiet = false

    func run() async throws {
        guard (1...64).contains(jobs), (1...10_000).contains(batchSize) else {
            throw ValidationError("--jobs must be from 1 to 64 and --batch-size from 1 to 10000")
        }
        let archive = try Archive(configuration: ArchiveConfiguration(
            dataDirectory: URL(fileURLWithPath: data), inflater: ZlibDeflate(),
            storageTranscoder: compressOnIngest ? JPEG2000LosslessStorage() : nil))
        let files = try FileCollection.files(paths)
        let progress = ImportProgress(total: files.count, showsBar: !quiet && isatty(STDERR_FILENO) == 1)
        let batches = stride(from: 0, to: files.count, by: batchSize).map { Array(files[$0..<min($0 + batchSize, files.count)]) }
        await withTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                guard next < batches.count else { return }
                let batch = batches[next]
                next += 1
                group.addTask { await Self.store(batch, in: archive, progress: progress) }
            }
            for _ in 0..<jobs { add() }
            while await group.next() != nil { add() }
        }
        let summary = progress.finish()
        try archive.close()
        print(summary)
    }

    /// Stages each file (copied block by block: any size in bounded memory), then ingests the
    /// batch in one transaction; every file ends in exactly one count.
    static func store(_ batch: [String], in archive: Archive, progress: ImportProgress) async {
        var staged: [(path: String, file: StagedFile)] = []
        for path in batch {
            do {
                staged.append((path, try archive.store.stageCopy(of: URL(fileURLWithPath: path))))
            } catch {
                progress.record(path: path, .failed(ImportProgress.reason(error)), bytes: 0)
            }
        }
        let results = await archive.ingest(stagedFiles: staged.map(\.file), context: .import)
        for ((path, file), result) in zip(staged, results) {
            switch result {
            case .success(let stored):
                switch stored.outcome {
                case .stored: progress.record(path: path, .stored, bytes: file.sizeAndCRC32?.size ?? 0)
                case .replaced: progress.record(path: path, .replaced, bytes: file.sizeAndCRC32?.size ?? 0)
                case .alreadyStored: progress.record(path: path, .alreadyStored, bytes: file.sizeAndCRC32?.size ?? 0)
                }
            case .failure(let error):
                progress.record(path: path, .failed(ImportProgress.reason(error)), bytes: 0)
            }
        }
    }
}

/// `minivna reindex`: rebuilds the index from the files alone.
struct ReindexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reindex", abstract: "Rebuild the index from the stored files.")

    @Option(help: "Data folder (env MINIVNA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["MINIVNA_DATA"] ?? "./minivna-data"

    func run() throws {
        let archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: URL(fileURLWithPath: data), inflater: ZlibDeflate()))
        let (indexed, failures) = try archive.reindex()
        for failure in failures { print("unreadable \(failure.path): \(failure.reason)") }
        print("indexed \(indexed) instances, \(failures.count) unreadable files")
        if !failures.isEmpty { throw ExitCode(1) }
    }
}

/// `minivna verify`: files without rows, rows without files, checksum mismatches; primary
/// records (kept: they cannot be rebuilt) whose study is no longer in the archive.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Check that the index and the files agree.")

    @Option(help: "Data folder (env MINIVNA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["MINIVNA_DATA"] ?? "./minivna-data"

    func run() throws {
        let archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: URL(fileURLWithPath: data), inflater: ZlibDeflate()))
        let report = try archive.verify()
        for path in report.filesWithoutRows { print("file without index row: \(path)") }
        for uid in report.rowsWithoutFiles { print("index row without file: \(uid)") }
        for uid in report.checksumMismatches { print("checksum mismatch: \(uid)") }
        for orphan in report.primaryRecordsWithoutStudy {
            print("primary record \(orphan.record) names study \(orphan.studyInstanceUID), which is not in the archive")
        }
        print("checked \(report.instancesChecked) instances: \(report.isClean ? "clean" : "PROBLEMS FOUND")")
        if !report.isClean { throw ExitCode(1) }
    }
}

/// `minivna backup`: a consistent copy of the primary data, which `reindex` cannot rebuild.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the primary data (Observations, event log, cursors) to a file; safe while the server runs.")

    @Option(help: "Data folder (env MINIVNA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["MINIVNA_DATA"] ?? "./minivna-data"

    @Option(help: "Destination file (a SQLite database), or a folder to put primary.sqlite in.")
    var to: String

    func run() throws {
        var destination = to
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: to, isDirectory: &isDirectory), isDirectory.boolValue {
            destination = (to as NSString).appendingPathComponent(Archive.primaryStoreFileName)
        }
        try Archive.backupPrimaryData(dataDirectory: URL(fileURLWithPath: data), to: destination)
        print("primary data copied to \(destination)")
    }
}

/// `minivna events`: the durable event log, one JSON object per line (stop `serve` first).
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Print the archive's event log as JSON lines.")

    @Option(help: "Data folder (env MINIVNA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["MINIVNA_DATA"] ?? "./minivna-data"

    @Option(help: "Only events after this sequence number.")
    var after: Int64 = 0

    func run() throws {
        let archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: URL(fileURLWithPath: data), inflater: ZlibDeflate()))
        var position = after
        while true {
            let batch = try archive.events.events(after: position, limit: 1_000)
            guard let last = batch.last else { break }
            for event in batch { print(EventJSON.line(event)) }
            position = last.sequence
        }
        try archive.close()
    }
}

enum EventJSON {
    /// One event as a JSON object on one line.
    static func line(_ event: ArchiveEvent) -> String {
        var fields = ["\"sequence\":\(event.sequence)", "\"kind\":\(JSONString.quote(event.kind.rawValue))",
                      "\"study\":\(JSONString.quote(event.studyInstanceUID))"]
        if let series = event.seriesInstanceUID { fields.append("\"series\":\(JSONString.quote(series))") }
        if let instance = event.sopInstanceUID { fields.append("\"instance\":\(JSONString.quote(instance))") }
        if let origin = event.origin { fields.append("\"origin\":\(JSONString.quote(origin.rawValue))") }
        if let principal = event.principal { fields.append("\"principal\":\(JSONString.quote(principal))") }
        fields.append("\"occurredAt\":\(event.occurredAt.timeIntervalSince1970)")
        return "{" + fields.joined(separator: ",") + "}"
    }
}

enum FileCollection {
    static func files(_ paths: [String]) throws -> [String] {
        var result: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CommandFailure("no such file or folder: \(path)")
            }
            if !isDirectory.boolValue { result.append(path); continue }
            for case let relative as String in FileManager.default.enumerator(atPath: path) ?? FileManager.DirectoryEnumerator() {
                let full = (path as NSString).appendingPathComponent(relative)
                var childIsDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: full, isDirectory: &childIsDirectory), !childIsDirectory.boolValue {
                    result.append(full)
                }
            }
        }
        return result.sorted()
    }
}
