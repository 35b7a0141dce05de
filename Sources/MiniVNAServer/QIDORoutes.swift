import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird

/// QIDO-RS (PS3.18 §10.6): studies, series and instances, at the top level or within a study or series.
struct QIDORoutes: Sendable {
    let archive: Archive
    let configuration: ServerConfiguration

    /// - Parameter group: the `/dicom-web` group.
    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("studies") { request, _ in try await search(request, level: .study) }
        group.get("series") { request, _ in try await search(request, level: .series) }
        group.get("instances") { request, _ in try await search(request, level: .instance) }
        group.get("studies/:study/series") { request, context in
            try await search(request, level: .series, study: try Self.uid(context, "study"))
        }
        group.get("studies/:study/instances") { request, context in
            try await search(request, level: .instance, study: try Self.uid(context, "study"))
        }
        group.get("studies/:study/series/:series/instances") { request, context in
            try await search(request, level: .instance, study: try Self.uid(context, "study"), series: try Self.uid(context, "series"))
        }
    }

    static func uid(_ context: AppRequestContext, _ name: String) throws -> String {
        let value = try context.parameters.require(name)
        guard UID.isValid(value) else { throw DICOMwebError(.badRequest, "\"\(value)\" in the path is not a valid UID") }
        return value
    }

    enum Representation { case json, xml }

    /// application/dicom+json (default, also for application/json and */*), or
    /// multipart/related; type="application/dicom+xml"; anything else is 406.
    static func negotiate(_ accept: String?) throws(DICOMwebError) -> Representation {
        for entry in AcceptEntry.parse(accept) {
            let media = entry.mediaType
            if media.covers(MediaType(type: "application", subtype: "dicom+json")) || media.essence == "application/json" {
                return .json
            }
            if media.essence == "multipart/related", media.parameters["type"]?.lowercased() == "application/dicom+xml" {
                return .xml
            }
        }
        var error = DICOMwebError(.notAcceptable,
            "cannot answer with \(accept ?? ""): QIDO-RS answers application/dicom+json or multipart/related; type=\"application/dicom+xml\"")
        error.headers[.availableMediaTypes] = "application/dicom+json, multipart/related; type=\"application/dicom+xml\""
        throw error
    }

    func search(_ request: Request, level: QIDOQuery.Level, study: String? = nil, series: String? = nil) async throws -> Response {
        let representation = try Self.negotiate(request.headers[.accept])
        let parameters = try QueryString.parameters(request.uri.query)
        let query = try QIDOQuery.parse(parameters, level: level, studyInstanceUID: study, seriesInstanceUID: series)
        let base = configuration.baseURL(for: request)
        let result = try await archive.search(query) { keys in
            var url = "\(base)/studies/\(keys.studyInstanceUID)"
            if let series = keys.seriesInstanceUID { url += "/series/\(series)" }
            if let instance = keys.sopInstanceUID { url += "/instances/\(instance)" }
            return url
        }
        var headers: HTTPFields = [:]
        if result.truncated {
            headers[.warning] = "299 MiniVNA \"The results are limited to \(result.dataSets.count); use offset to get the next page\""
        }
        switch representation {
        case .json:
            headers[.contentType] = "application/dicom+json"
            let body = try DICOMJSONEncoder().encode(result.dataSets)
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        case .xml:
            let boundary = "MiniVNA-\(UUID().uuidString)"
            headers[.contentType] = "multipart/related; type=\"application/dicom+xml\"; boundary=\(boundary)"
            var body = ""
            for dataSet in result.dataSets {
                body += "--\(boundary)\r\nContent-Type: application/dicom+xml\r\n\r\n"
                body += try DICOMXMLEncoder().encode(dataSet) + "\r\n"
            }
            body += "--\(boundary)--\r\n"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
    }
}
