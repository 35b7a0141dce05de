import Archive
import Foundation
import Hummingbird

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
    /// Where DICOMweb lives.
    public let dicomWebPath = "/dicom-web"

    public init(host: String = "127.0.0.1", port: Int = 8080, dataDirectory: URL = URL(fileURLWithPath: "minivna-data"),
                duplicatePolicy: DuplicatePolicy = .reject, studyQuietPeriod: Duration = .seconds(10),
                corsAllowedOrigins: [String] = ["*"], maximumRequestSize: Int = 16 << 30, publicBaseURL: String? = nil) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.duplicatePolicy = duplicatePolicy
        self.studyQuietPeriod = studyQuietPeriod
        self.corsAllowedOrigins = corsAllowedOrigins
        self.maximumRequestSize = maximumRequestSize
        self.publicBaseURL = publicBaseURL
    }

    /// `http://host:port/dicom-web` as the client sees it.
    func baseURL(for request: Request) -> String {
        if let publicBaseURL { return publicBaseURL.trimmingSuffix("/") + dicomWebPath }
        let host = request.head.authority ?? "\(self.host):\(port)"
        return "http://\(host)\(dicomWebPath)"
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
