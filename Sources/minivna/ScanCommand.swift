import ArgumentParser
import DICOM
import Foundation
import Imaging

/// `minivna scan PATH...`: parses every file under the paths and reports counts, speed and
/// failures. The header benchmark (Benchmarks/header_parse.py) and `verify` build on it.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Parse every DICOM file under the given paths and report files, bytes, time and failures."
    )

    @Argument(help: "Files or folders (searched recursively).")
    var paths: [String]

    @Flag(help: "Stop before Pixel Data and leave large values in the files (index mode).")
    var headerOnly = false

    @Flag(help: "Print one JSON object: {\"files\", \"bytes\", \"seconds\", \"failures\"}.")
    var json = false

    @Option(name: .customLong("repeat"), help: "Parse everything this many times in this process and report the fastest pass (steady state, as an in-process benchmark of another library measures).")
    var repetitions: Int = 1

    func run() throws {
        let files = try collectFiles(paths)
        let inflater = ZlibDeflate()
        let options = headerOnly ? ReadOptions.headerOnly(inflater: inflater) : ReadOptions(inflater: inflater)
        var totalBytes = 0
        for path in files {
            var info = stat()
            if stat(path, &info) == 0 { totalBytes += Int(info.st_size) }
        }
        var failures: [(String, String)] = []
        let clock = ContinuousClock()
        var elapsed = Duration.zero
        for pass in 0..<max(repetitions, 1) {
            var passFailures: [(String, String)] = []
            var passElapsed = Duration.zero
            for path in files {
                let start = clock.now
                do {
                    _ = try Part10Reader.read(path: path, options: options)
                } catch {
                    passFailures.append((path, "\(error)"))
                }
                passElapsed += clock.now - start
            }
            if pass == 0 || passElapsed < elapsed { elapsed = passElapsed }
            failures = passFailures
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        if json {
            print("{\"files\": \(files.count), \"bytes\": \(totalBytes), \"seconds\": \(seconds), \"failures\": \(failures.count)}")
        } else {
            let mbps = seconds > 0 ? Double(totalBytes) / 1e6 / seconds : 0
            print("files: \(files.count)  bytes: \(totalBytes)  seconds: \(String(format: "%.4f", seconds))  MB/s: \(String(format: "%.1f", mbps))  failures: \(failures.count)")
            for (path, reason) in failures { print("FAIL \(path): \(reason)") }
        }
    }

    private func collectFiles(_ paths: [String]) throws -> [String] { try FileCollection.files(paths) }
}
