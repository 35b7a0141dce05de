import Archive
import ArgumentParser
import Enrichment
import Foundation
import Logging
import MiniVNAServer
import NIOSSL

/// `minivna serve`: the archive over HTTP (DICOMweb at /dicom-web).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the archive: DICOMweb (STOW-RS, QIDO-RS) at http://HOST:PORT/dicom-web.",
        discussion: "--config FILE (env MINIVNA_CONFIG): a JSON object of these options by long name; MINIVNA_<KEY> overrides a key, the command line overrides both."
    )

    // `--config FILE` (env MINIVNA_CONFIG) is read before parsing: see ConfigurationFile.

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

    @Flag(name: .customLong("no-ai"), help: "Turn AI enrichment off (env MINIVNA_AI=0).")
    var noAI = ProcessInfo.processInfo.environment["MINIVNA_AI"] == "0"

    @Option(name: .customLong("ai-builtins"), help: "Built-in analyzers, comma-separated: image-quality,ct-dose,data-quality (default all), or none.")
    var aiBuiltins: String = "image-quality,ct-dose,data-quality"

    @Option(name: .customLong("ai-service"), help: "An external inference service: NAME@VERSION=URL[;modality=CT;body-part=CHEST;min-instances=N;series-description=REGEX] (repeatable).")
    var aiServices: [String] = []

    @Option(name: .customLong("ai-concurrency"), help: "Analyses run at once (default 2).")
    var aiConcurrency: Int = 2

    @Option(name: .customLong("ai-attempts"), help: "Attempts of a job that fails transiently before it is recorded as failed (default 4).")
    var aiAttempts: Int = 4

    @Option(name: .customLong("ai-retry-seconds"), help: "First retry delay in seconds, doubled per attempt, ±50 % jitter (default 2).")
    var aiRetrySeconds: Double = 2

    @Option(name: .customLong("ai-timeout-seconds"), help: "Time limit of one analysis attempt in seconds (default 300).")
    var aiTimeoutSeconds: Double = 300

    @Option(name: .customLong("ai-drl"), help: "A CT diagnostic reference level BODYPART=CTDIVOL:DLP in mGy and mGy.cm (repeatable; replaces the default for that body part), e.g. CHEST=12:400.")
    var aiReferenceLevels: [String] = []

    @Option(name: .customLong("ai-quality-limits"), help: "Image quality limits: saturated=PERCENT,blank=FRAMES,noise=UNITS (default saturated=1,blank=0, no noise limit).")
    var aiQualityLimits: String?

    @Option(help: "Credentials file (JSON: apiKeys with SHA-256 digests, users with bcrypt hashes, jwt keys and claims; see CONFORMANCE.md) (env MINIVNA_CREDENTIALS).")
    var credentials: String? = ProcessInfo.processInfo.environment["MINIVNA_CREDENTIALS"]

    @Flag(name: .customLong("insecure-no-auth"), help: "Serve a non-loopback address without authentication (prints a warning).")
    var insecureNoAuth = false

    @Option(help: "HTTPS: the certificate chain, PEM (with --tls-key) (env MINIVNA_TLS_CERTIFICATE).")
    var tlsCertificate: String? = ProcessInfo.processInfo.environment["MINIVNA_TLS_CERTIFICATE"]

    @Option(help: "HTTPS: the private key, PEM (env MINIVNA_TLS_KEY).")
    var tlsKey: String? = ProcessInfo.processInfo.environment["MINIVNA_TLS_KEY"]

    /// HTTPS from a PEM certificate chain and key, checked to belong together; nil for HTTP.
    func tlsConfiguration() throws -> TLSConfiguration? {
        switch (tlsCertificate, tlsKey) {
        case (nil, nil): return nil
        case (let certificate?, let key?):
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
                guard !chain.isEmpty else { throw ValidationError("--tls-certificate \(certificate): no certificate in it") }
                var tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
                tls.minimumTLSVersion = .tlsv12
                _ = try NIOSSLContext(configuration: tls)   // the key must match the certificate
                return tls
            } catch let error as ValidationError {
                throw error
            } catch {
                throw ValidationError("--tls-certificate/--tls-key: cannot use \(certificate) with \(key): \(error)")
            }
        default:
            throw ValidationError("--tls-certificate and --tls-key go together")
        }
    }

    @Option(help: "Log lines as text (default) or json (one object per line; env MINIVNA_LOG_FORMAT).")
    var logFormat: String = ProcessInfo.processInfo.environment["MINIVNA_LOG_FORMAT"] ?? "text"

    @Flag(name: .customLong("no-metrics"), help: "No /metrics (Prometheus text format) and no metrics recorded.")
    var noMetrics = false

    @Option(help: "Days access-audit records are kept; 0 keeps them forever (default 365).")
    var auditRetentionDays: Int = 365

    /// The credentials file and `MINIVNA_API_KEYS` (`name:role[+role]:token,...`, for demos and
    /// tests), and whether serving without them is allowed here.
    func securitySettings() throws -> SecuritySettings {
        var settings = SecuritySettings()
        settings.insecureNoAuth = insecureNoAuth
        do {
            if let credentials { try settings.load(credentialsFile: URL(fileURLWithPath: credentials)) }
            if let keys = ProcessInfo.processInfo.environment["MINIVNA_API_KEYS"], !keys.isEmpty {
                try settings.addAPIKeys(fromList: keys)
            }
        } catch {
            throw ValidationError(error.description)
        }
        if !settings.isEnabled && !Self.isLoopback(host) && !insecureNoAuth {
            throw ValidationError("--host \(host) is reachable from other machines and no credentials are configured: "
                + "set MINIVNA_API_KEYS or --credentials, or pass --insecure-no-auth to serve it open")
        }
        return settings
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    @Option(help: "Seconds a request's head may take to arrive, from the connection's start or the previous response (default 30).")
    var headerTimeoutSeconds: Int = 30

    @Option(help: "Seconds a request body may send nothing while the server waits for it (default 30).")
    var bodyStallSeconds: Int = 30

    @Option(help: "Slowest request body accepted, in bytes per second, after 20 s of waiting (default 1024; 0 turns it off).")
    var minimumBodyRate: Int = 1024

    @Option(help: "Connections one client address may hold at once (default 256; 0: no limit).")
    var maxConnectionsPerClient: Int = 256

    @Option(help: "Seconds a connection with no request may stay open (default 120).")
    var idleTimeoutSeconds: Int = 120

    func connectionLimits() throws -> ConnectionLimits {
        var limits = ConnectionLimits()
        for (name, value) in [("--header-timeout-seconds", headerTimeoutSeconds), ("--body-stall-seconds", bodyStallSeconds),
                              ("--idle-timeout-seconds", idleTimeoutSeconds)] where !(1...86_400).contains(value) {
            throw ValidationError("\(name) must be from 1 to 86400")
        }
        guard minimumBodyRate >= 0, maxConnectionsPerClient >= 0 else {
            throw ValidationError("--minimum-body-rate and --max-connections-per-client must not be negative")
        }
        limits.headerTimeout = .seconds(headerTimeoutSeconds)
        limits.bodyStallTimeout = .seconds(bodyStallSeconds)
        limits.minimumBodyBytesPerSecond = minimumBodyRate
        limits.maximumConnectionsPerClient = maxConnectionsPerClient
        limits.idleTimeout = .seconds(idleTimeoutSeconds)
        return limits
    }

    /// What this command would run with, for `config --print`: every setting after the
    /// configuration file, the environment and the command line; API keys show their names and
    /// roles only, files their paths.
    func effectiveSettings() throws -> [String: JSONSetting] {
        let security = try securitySettings()
        _ = try connectionLimits()
        _ = try enrichmentSettings()
        var settings: [String: JSONSetting] = [
            "host": .string(host), "port": .number(Double(port)), "data": .string(data), "duplicates": .string(duplicates),
            "study-quiet-seconds": .number(studyQuietSeconds), "cors-origin": .list(corsOrigin),
            "max-request-bytes": .number(Double(maxRequestBytes)), "compress-on-ingest": .bool(compressOnIngest),
            "render-cache-mb": .number(Double(renderCacheMb ?? Int(ProcessInfo.processInfo.environment["MINIVNA_RENDER_CACHE_MB"] ?? "") ?? 32)),
            "shutdown-grace-seconds": .number(shutdownGraceSeconds), "no-ai": .bool(noAI), "ai-builtins": .string(aiBuiltins),
            "ai-service": .list(aiServices), "ai-concurrency": .number(Double(aiConcurrency)), "ai-attempts": .number(Double(aiAttempts)),
            "ai-retry-seconds": .number(aiRetrySeconds), "ai-timeout-seconds": .number(aiTimeoutSeconds),
            "ai-drl": .list(aiReferenceLevels), "insecure-no-auth": .bool(insecureNoAuth), "no-metrics": .bool(noMetrics),
            "log-format": .string(logFormat), "audit-retention-days": .number(Double(auditRetentionDays)),
            "header-timeout-seconds": .number(Double(headerTimeoutSeconds)), "body-stall-seconds": .number(Double(bodyStallSeconds)),
            "minimum-body-rate": .number(Double(minimumBodyRate)), "max-connections-per-client": .number(Double(maxConnectionsPerClient)),
            "idle-timeout-seconds": .number(Double(idleTimeoutSeconds)),
            "api-keys": .list(security.apiKeys.map { "\($0.name):\($0.roles.map(\.rawValue).sorted().joined(separator: "+")):****" }),
            "basic-users": .list(security.users.map { "\($0.name):\($0.roles.map(\.rawValue).sorted().joined(separator: "+"))" }),
            "jwt": .string(security.jwt == nil ? "off" : "on (issuer \(security.jwt?.issuer ?? "any"), audience \(security.jwt?.audience ?? "any"))"),
            "authentication": .string(security.isEnabled ? "on" : "off"),
        ]
        settings["public-url"] = publicURL.map(JSONSetting.string) ?? .null
        settings["ai-quality-limits"] = aiQualityLimits.map(JSONSetting.string) ?? .null
        settings["credentials"] = credentials.map(JSONSetting.string) ?? .null
        settings["tls-certificate"] = tlsCertificate.map(JSONSetting.string) ?? .null
        settings["tls-key"] = tlsKey.map { _ in JSONSetting.string("****") } ?? .null
        return settings
    }

    func enrichmentSettings() throws -> EnrichmentSettings {
        var levels = DoseAnalyzer.defaultReferenceLevels
        var limits = ImageQualityAnalyzer.Limits()
        do {
            for text in aiReferenceLevels {
                let (bodyPart, level) = try EnrichmentSettings.parseReferenceLevel(text)
                levels[bodyPart] = level
            }
            if let aiQualityLimits { limits = try EnrichmentSettings.parseQualityLimits(aiQualityLimits) }
        } catch {
            throw ValidationError(error.description)
        }
        var builtIns: [EnrichmentSettings.BuiltIn] = []
        for name in aiBuiltins.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where name != "none" && !name.isEmpty {
            guard let builtIn = EnrichmentSettings.BuiltIn(rawValue: name) else {
                throw ValidationError("--ai-builtins: unknown analyzer \(name) (image-quality, ct-dose, data-quality, none)")
            }
            builtIns.append(builtIn)
        }
        guard (1...64).contains(aiConcurrency) else { throw ValidationError("--ai-concurrency must be from 1 to 64") }
        guard (1...100).contains(aiAttempts) else { throw ValidationError("--ai-attempts must be from 1 to 100") }
        guard aiRetrySeconds >= 0, aiRetrySeconds <= 3_600 else { throw ValidationError("--ai-retry-seconds must be from 0 to 3600") }
        guard aiTimeoutSeconds > 0, aiTimeoutSeconds <= 86_400 else { throw ValidationError("--ai-timeout-seconds must be from 0 to 86400") }
        var services: [EnrichmentSettings.ExternalService] = []
        for text in aiServices {
            do {
                services.append(try EnrichmentSettings.ExternalService.parse(text))
            } catch {
                throw ValidationError(error.description)
            }
        }
        return EnrichmentSettings(enabled: !noAI, builtIns: builtIns, services: services, concurrency: aiConcurrency,
                                  maximumAttempts: aiAttempts, retryBaseSeconds: aiRetrySeconds,
                                  attemptTimeout: .milliseconds(Int(aiTimeoutSeconds * 1000)), imageQualityLimits: limits,
                                  referenceLevels: levels)
    }

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
        guard (0...36_500).contains(auditRetentionDays) else { throw ValidationError("--audit-retention-days must be from 0 to 36500") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
        if logFormat == "json" { LoggingSystem.bootstrap { JSONLogHandler(label: $0) } }
        var logger = Logger(label: "minivna")
        logger.logLevel = .info
        MemoryTuning.keepLargeBuffersInHeap()
        var configuration = ServerConfiguration(
            host: host, port: port, dataDirectory: URL(fileURLWithPath: data), duplicatePolicy: policy,
            studyQuietPeriod: .milliseconds(Int(studyQuietSeconds * 1000)), corsAllowedOrigins: corsOrigin,
            maximumRequestSize: maxRequestBytes, publicBaseURL: publicURL, compressOnIngest: compressOnIngest,
            renderedImageCacheBytes: renderCacheMb << 20,
            shutdownGracePeriod: .milliseconds(Int(shutdownGraceSeconds * 1000)), enrichment: try enrichmentSettings())
        configuration.security = try securitySettings()
        configuration.connectionLimits = try connectionLimits()
        configuration.metricsEnabled = !noMetrics
        configuration.tls = try tlsConfiguration()
        configuration.auditRetention = auditRetentionDays == 0 ? nil : .seconds(auditRetentionDays * 86_400)
        let security = configuration.security
        if !security.isEnabled {
            logger.warning(Self.isLoopback(host)
                ? "authentication is off: no credentials configured, serving loopback (\(host)) only"
                : "authentication is off on \(host) (--insecure-no-auth): anyone who can reach this port reads and writes the archive")
        } else {
            // Names and roles only: a credential is never logged.
            let names = security.apiKeys.map { "\($0.name) (\($0.roles.map(\.rawValue).sorted().joined(separator: "+")))" }
                + security.users.map { "\($0.name) (\($0.roles.map(\.rawValue).sorted().joined(separator: "+")), basic)" }
            logger.info("authentication on: \(names.joined(separator: ", "))\(security.jwt != nil ? "; JWT bearer tokens" : "")")
        }
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
