import Archive
import Enrichment
import Foundation
import Hummingbird
import Imaging
import NIOSSL

/// Everything `minivna serve` can be told (flags and environment, see the CLI).
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var dataDirectory: URL
    public var duplicatePolicy: DuplicatePolicy
    public var studyQuietPeriod: Duration
    /// Allowed CORS origins; `["*"]` allows any origin.
    public var corsAllowedOrigins: [String]
    /// Largest STOW request body accepted (413 beyond).
    public var maximumRequestSize: Int
    /// Base of the URLs the server writes into responses (RetrieveURL); by default built from
    /// the request's Host header, which is right behind a transparent proxy.
    public var publicBaseURL: String?
    /// Storage policy: uncompressed images are stored as JPEG 2000 lossless (off by default).
    public var compressOnIngest: Bool
    /// Memory for encoded rendered images and thumbnails (see `RenderedImageCache`); 0 turns
    /// the cache off.
    public var renderedImageCacheBytes: Int
    /// How long a graceful shutdown (SIGTERM, SIGINT) waits for in-flight requests before it
    /// cancels them.
    public var shutdownGracePeriod: Duration
    /// AI enrichment: which analyzers, how many at once, retries.
    public var enrichment: EnrichmentSettings
    /// Who may sign in and how; authentication is on once any credential is configured.
    public var security = SecuritySettings()
    /// HTTPS with this certificate and key (nil: plain HTTP).
    public var tls: TLSConfiguration?
    /// `http` or `https`.
    public var scheme: String { tls == nil ? "http" : "https" }
    /// `/metrics` and the metrics recorded for it (the process's one swift-metrics backend).
    public var metricsEnabled = false
    /// Header, body and idle timeouts, connections per client.
    public var connectionLimits = ConnectionLimits()
    /// How long access-audit records are kept (nil: forever).
    public var auditRetention: Duration? = .seconds(365 * 86_400)
    /// Where DICOMweb lives.
    public let dicomWebPath = "/dicom-web"
    /// The port actually bound (with `--port 0` it is chosen at start-up).
    public let listening = ListeningPort()

    public init(host: String = "127.0.0.1", port: Int = 8080, dataDirectory: URL = URL(fileURLWithPath: "minivna-data"),
                duplicatePolicy: DuplicatePolicy = .reject, studyQuietPeriod: Duration = .seconds(10),
                corsAllowedOrigins: [String] = ["*"], maximumRequestSize: Int = 16 << 30, publicBaseURL: String? = nil,
                compressOnIngest: Bool = false, renderedImageCacheBytes: Int = 32 << 20,
                shutdownGracePeriod: Duration = .seconds(30), enrichment: EnrichmentSettings = EnrichmentSettings()) {
        self.enrichment = enrichment
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.duplicatePolicy = duplicatePolicy
        self.studyQuietPeriod = studyQuietPeriod
        self.corsAllowedOrigins = corsAllowedOrigins
        self.maximumRequestSize = maximumRequestSize
        self.publicBaseURL = publicBaseURL
        self.compressOnIngest = compressOnIngest
        self.renderedImageCacheBytes = renderedImageCacheBytes
        self.shutdownGracePeriod = shutdownGracePeriod
    }

    /// The archive these settings describe, with Imaging's inflater for Deflated instances and the
    /// storage policy: what `minivna serve` opens, and what route tests open too.
    public var archiveConfiguration: ArchiveConfiguration {
        ArchiveConfiguration(dataDirectory: dataDirectory, duplicatePolicy: duplicatePolicy, studyQuietPeriod: studyQuietPeriod,
                             inflater: ZlibDeflate(), storageTranscoder: compressOnIngest ? JPEG2000LosslessStorage() : nil)
    }

    /// How this server's own clients (external inference services) reach it, without a request
    /// to take the Host from: the public base URL, else the bound address (loopback for a
    /// wildcard address).
    public var internalOrigin: String {
        if let publicBaseURL { return publicBaseURL.trimmingSuffix("/") }
        let name = ["0.0.0.0", "::", "[::]", ""].contains(host) ? "127.0.0.1" : host
        return "\(scheme)://\(name):\(listening.port ?? port)"
    }

    /// `http://host:port/dicom-web` as the client sees it.
    func baseURL(for request: Request) -> String {
        origin(for: request) + dicomWebPath
    }

    /// `http://host:port` as the client sees it (DICOMweb and FHIR hang off it).
    func origin(for request: Request) -> String {
        if let publicBaseURL { return publicBaseURL.trimmingSuffix("/") }
        var authority = request.head.authority ?? "\(self.host):\(port)"
        // dicomweb-client sends `Host: 127.0.0.1` without the port it connected to. For this
        // server's own name or a loopback name, a missing port is the one it listens on; other
        // names are taken as given (a proxy's public name; or set publicBaseURL).
        if !Self.hasPort(authority), let actual = listening.port {
            let name = authority.lowercased()
            if (name == host.lowercased() || ["localhost", "127.0.0.1", "[::1]"].contains(name)) && actual != (tls == nil ? 80 : 443) {
                authority += ":\(actual)"
            }
        }
        return "\(scheme)://\(authority)"
    }

    static func hasPort(_ authority: String) -> Bool {
        guard let colon = authority.lastIndex(of: ":") else { return false }
        return !authority[colon...].contains("]")
    }
}

/// The bound port, set once the server listens.
public final class ListeningPort: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int?

    public init() {}

    public var port: Int? {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
