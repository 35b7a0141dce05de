import Archive
import ArgumentParser
import Foundation
import Imaging

/// `minivna demo-data`: a realistic demo archive, made and stored through the normal ingest.
struct DemoDataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-data",
        abstract: "Store a demo archive: 5 patients in 4 character sets; CT, MR, CR, US and SR studies (synthetic images).")

    @Option(help: "Data folder (env MINIVNA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["MINIVNA_DATA"] ?? "./minivna-data"

    func run() async throws {
        let archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: URL(fileURLWithPath: data), inflater: ZlibDeflate()))
        var counts: [String: Int] = [:]
        var stored = 0, already = 0
        for (label, bytes) in try DemoArchive.instances() {
            switch try await archive.ingest(bytes: bytes, context: .import).outcome {
            case .stored, .replaced: stored += 1
            case .alreadyStored: already += 1
            }
            counts[label, default: 0] += 1
        }
        try archive.close()
        let modalities = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print("demo data: \(DemoArchive.patients.count) patients, \(modalities); stored \(stored), already stored \(already)")
    }
}
