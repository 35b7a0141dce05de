import Archive
import ArgumentParser
import Foundation
import Logging
import MiniVNAServer

/// `minivna serve`: the archive over HTTP (DICOMweb at /dicom-web).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the archive: DICOMweb (STOW-RS, QIDO-RS) at http://HOST:PORT/dicom-web."
    )

    @Option(help: "Address to listen on (env MINIVNA_HOST).")
    var host: String = ProcessInfo.processInfo.environment["MINIVNA_HOST"] ?? "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one (env MINIVNA_PORT).")
    var port: Int = Int(ProcessInfo.processInfo.environment["MINIVNA_PORT"] ?? "") ?? 8080

    @Option(help: "Data folder: files and index; created when missing (env MINIVNA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["MINIVNA_DATA"] ?? "./minivna-data"

    @Option(help: "Same SOP Instance UID with different content: reject (default) or replace.")
    var duplicates: String = ProcessInfo.processInfo.environment["MINIVNA_DUPLICATES"] ?? "reject"

    @Option(help: "Seconds without a new instance before a study is stable.")
    var studyQuietSeconds: Double = 10

    @Option(parsing: .upToNextOption, help: "Allowed CORS origins (default: any).")
    var corsOrigin: [String] = ["*"]

    @Option(help: "Largest STOW request body in bytes.")
    var maxRequestBytes: Int = 16 << 30

    @Flag(help: "Store uncompressed images as JPEG 2000 lossless (same UIDs, identical pixel values; env MINIVNA_COMPRESS_ON_INGEST=1).")
    var compressOnIngest = ProcessInfo.processInfo.environment["MINIVNA_COMPRESS_ON_INGEST"] == "1"

    @Option(help: "Public base URL written into RetrieveURLs (default: from the Host header).")
    var publicURL: String?

    @Option(help: "MiB of memory for rendered images and thumbnails already encoded, default 32; 0 turns the cache off (env MINIVNA_RENDER_CACHE_MB).")
    var renderCacheMb: Int?

    @Option(help: "Seconds a shutdown (SIGTERM, SIGINT) waits for requests in flight before it cancels them.")
    var shutdownGraceSeconds: Double = 30

    func run() async throws {
        guard let policy = DuplicatePolicy(rawValue: duplicates) else {
            throw ValidationError("--duplicates must be reject or replace")
        }
        let environmentCache = ProcessInfo.processInfo.environment["MINIVNA_RENDER_CACHE_MB"]
        guard shutdownGraceSeconds >= 0, shutdownGraceSeconds <= 86_400 else {
            throw ValidationError("--shutdown-grace-seconds must be from 0 to 86400")
        }
        guard let renderCacheMb = renderCacheMb ?? (environmentCache.map { Int($0) } ?? 32), (0...65_536).contains(renderCacheMb) else {
            throw ValidationError("--render-cache-mb (or MINIVNA_RENDER_CACHE_MB) must be a whole number from 0 to 65536")
        }
        var logger = Logger(label: "minivna")
        logger.logLevel = .info
        MemoryTuning.keepLargeBuffersInHeap()
        let configuration = ServerConfiguration(
            host: host, port: port, dataDirectory: URL(fileURLWithPath: data), duplicatePolicy: policy,
            studyQuietPeriod: .milliseconds(Int(studyQuietSeconds * 1000)), corsAllowedOrigins: corsOrigin,
            maximumRequestSize: maxRequestBytes, publicBaseURL: publicURL, compressOnIngest: compressOnIngest,
            renderedImageCacheBytes: renderCacheMb << 20,
            shutdownGracePeriod: .milliseconds(Int(shutdownGraceSeconds * 1000)))
        // One archive for the process, shared by every front end the services run.
        let archive = try Archive(configuration: configuration.archiveConfiguration)
        let services = buildServiceGroup(configuration, archive: archive, logger: logger) { url in
            // Tools wait for this exact line (a contract: see the README).
            // Written straight to the file descriptor: print() is buffered when stdout is a pipe.
            FileHandle.standardOutput.write(Data("listening on \(url)\n".utf8))
        }
        try await services.run()
    }
}
