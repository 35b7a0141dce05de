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
                switch try await archive.ingest(stagedFiles: [staged])[0].get().outcome {
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

/// `minivna verify`: files without rows, rows without files, checksum mismatches.
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
        print("checked \(report.instancesChecked) instances: \(report.isClean ? "clean" : "PROBLEMS FOUND")")
        if !report.isClean { throw ExitCode(1) }
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
