import Archive
import ArgumentParser
import DICOM
import Foundation
import Imaging

/// `minivna import PATH...`: stores every DICOM file under the paths through the normal ingest.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Store DICOM files (folders searched recursively) into a data folder.")

    @Option(help: "Data folder (env MINIVNA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["MINIVNA_DATA"] ?? "./minivna-data"

    @Argument(help: "Files or folders.")
    var paths: [String]

    @Flag(help: "Store uncompressed images as JPEG 2000 lossless, as `serve --compress-on-ingest` does.")
    var compressOnIngest = ProcessInfo.processInfo.environment["MINIVNA_COMPRESS_ON_INGEST"] == "1"

    func run() async throws {
        let archive = try Archive(configuration: ArchiveConfiguration(
            dataDirectory: URL(fileURLWithPath: data), inflater: ZlibDeflate(),
            storageTranscoder: compressOnIngest ? JPEG2000LosslessStorage() : nil))
        var stored = 0, already = 0, failed = 0
        for path in try FileCollection.files(paths) {
            do {
                // Copied block by block into the store's tmp/ folder: any size in bounded memory.
                let staged = try archive.store.stageCopy(of: URL(fileURLWithPath: path))
                switch try await archive.ingest(stagedFiles: [staged], context: .import)[0].get().outcome {
                case .stored, .replaced: stored += 1
                case .alreadyStored: already += 1
                }
            } catch {
                failed += 1
                FileHandle.standardError.write(Data("skipped \(path): \(error)\n".utf8))
            }
        }
        print("imported \(stored), already stored \(already), skipped \(failed)")
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
