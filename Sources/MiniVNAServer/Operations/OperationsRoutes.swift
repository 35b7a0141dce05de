import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// MiniVNA's version, as the root page, the CapabilityStatement's software and `--version` say.
public enum MiniVNAVersion {
    public static let current = "0.6.0"
}

/// What is open to anyone: the root page a person sees who opens the server in a browser, and
/// the health checks an orchestrator polls (`/health/live`: the process answers;
/// `/health/ready`: the index answers and the data folder takes a write, `Archive.storageCondition`), and
/// `/metrics` for Prometheus (no patient data in it: route patterns, counts, durations).
struct OperationsRoutes: Sendable {
    let archive: Archive
    let configuration: ServerConfiguration
    /// nil: no `/metrics` (in-process tests that do not ask for it).
    let metrics: ServerMetrics?

    func register(on router: Router<AppRequestContext>) {
        router.get("/") { request, _ in rootPage(request) }
        if let metrics {
            router.get("/metrics") { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                         body: ResponseBody(byteBuffer: metrics.exposition()))
            }
        }
        router.get("/health/live") { _, _ in
            Self.json(.ok, #"{"status":"pass"}"#)
        }
        router.get("/health/ready") { _, _ in
            let checks = ready()
            let failing = checks.filter { $0.failure != nil }
            let details = checks.map { #""\#($0.name)":\#(JSONString.quote($0.failure ?? "pass"))"# }.joined(separator: ",")
            return Self.json(failing.isEmpty ? .ok : .serviceUnavailable,
                             #"{"status":"\#(failing.isEmpty ? "pass" : "fail")","checks":{\#(details)}}"#)
        }
    }

    /// The index answers a count; a file can be created (and removed) in the data folder.
    private func ready() -> [(name: String, failure: String?)] {
        var checks: [(String, String?)] = []
        do {
            _ = try archive.counts()
            checks.append(("index", nil))
        } catch {
            checks.append(("index", "the index does not answer"))
        }
        switch archive.storageCondition() {
        case .writable: checks.append(("storage", nil))
        case .full: checks.append(("storage", "the data folder's volume is full"))
        case .readOnly(let why): checks.append(("storage", "the data folder takes no writes (\(why))"))
        }
        return checks
    }

    private func rootPage(_ request: Request) -> Response {
        let origin = configuration.origin(for: request)
        let dicomWeb = Self.escape(origin + configuration.dicomWebPath), fhir = Self.escape(origin + "/fhir")
        let authentication = configuration.security.isEnabled
            ? "Requests need credentials (API key or JWT as Bearer, or Basic)."
            : "Authentication is off: this server answers anyone who can reach it."
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>MiniVNA \(MiniVNAVersion.current)</title></head>
            <body>
            <h1>MiniVNA \(MiniVNAVersion.current)</h1>
            <p>A DICOMweb and FHIR mini vendor-neutral archive with AI enrichment.</p>
            <ul>
            <li>DICOMweb (QIDO-RS, WADO-RS, STOW-RS): <code>\(dicomWeb)</code>, e.g. <code>\(dicomWeb)/studies</code></li>
            <li>FHIR R4: <code>\(fhir)</code>, CapabilityStatement at <code>\(fhir)/metadata</code></li>
            <li>AI results and runs: <code>\(Self.escape(origin))/ai/runs</code></li>
            <li>Health: <code>/health/live</code>, <code>/health/ready</code>; metrics: <code>/metrics</code></li>
            </ul>
            <p>\(authentication)</p>
            <p>Documentation: README.md (set-up, configuration, examples) and CONFORMANCE.md (every endpoint,
            query attribute, transfer syntax and FHIR search parameter) in the MiniVNA source tree.</p>
            </body></html>
            """
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
