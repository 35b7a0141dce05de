import Archive
import DICOM
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// FHIR R4 at `/fhir` (JSON only): the routes map HTTP onto `FHIRService`; every failure becomes
/// an OperationOutcome here, with its status, never a DICOMweb error body.
struct FHIRRoutes: Sendable {
    let service: FHIRService
    let configuration: ServerConfiguration
    let logger: Logger
    static let maximumBody = 1 << 20

    /// - Parameter group: the `/fhir` group.
    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("metadata") { request, _ in
            try await respond(request) { urls in (.ok, CapabilityStatement.make(fhirBase: urls.fhirBase), [:]) }
        }
        // The audit trail has routes of its own, so the permission table can keep it to admins.
        group.get("AuditEvent") { request, _ in
            try await respond(request) { urls in
                (.ok, try await service.search(type: "AuditEvent", query: try Self.searchQuery(request), urls: urls), [:])
            }
        }
        group.get("AuditEvent/:id") { request, context in
            try await respond(request) { urls in
                (.ok, try await service.read(type: "AuditEvent", id: try context.parameters.require("id"), urls: urls), [:])
            }
        }
        group.get(":type") { request, context in
            try await respond(request) { urls in
                let query = try Self.searchQuery(request)
                return (.ok, try await service.search(type: try context.parameters.require("type"), query: query, urls: urls), [:])
            }
        }
        group.get(":type/:id") { request, context in
            try await respond(request) { urls in
                let type = try context.parameters.require("type"), id = try context.parameters.require("id")
                let resource = try await service.read(type: type, id: id, urls: urls)
                return (.ok, resource, Self.versionHeaders(resource))
            }
        }
        group.post(":type") { request, context in
            try await respond(request) { urls in
                try Self.requireObservation(try context.parameters.require("type"))
                let stored = try await service.createObservation(try await Self.body(request, context))
                var headers = Self.versionHeaders(stored.resource)
                headers[.location] = "\(urls.fhirBase)/Observation/\(stored.id)/_history/\(stored.versionId)"
                return (.created, stored.resource, headers)
            }
        }
        group.put(":type/:id") { request, context in
            try await respond(request) { _ in
                try Self.requireObservation(try context.parameters.require("type"))
                let stored = try await service.updateObservation(id: try context.parameters.require("id"), try await Self.body(request, context),
                                                                 ifMatch: try Self.ifMatch(request.headers[.ifMatch]))
                return (.ok, stored.resource, Self.versionHeaders(stored.resource))
            }
        }
        group.delete(":type/:id") { request, context in
            try await respond(request) { _ in
                try Self.requireObservation(try context.parameters.require("type"))
                try await service.deleteObservation(id: try context.parameters.require("id"))
                return (.noContent, nil, [:])
            }
        }
    }

    /// Runs a handler; JSON out, every error as an OperationOutcome.
    private func respond(_ request: Request,
                         _ handler: (FHIRService.URLs) async throws -> (HTTPResponse.Status, JSONValue?, HTTPFields)) async throws -> Response {
        let origin = configuration.origin(for: request)
        let urls = FHIRService.URLs(fhirBase: origin + "/fhir", dicomWebBase: origin + configuration.dicomWebPath)
        do {
            try Self.checkAcceptsJSON(request)
            let (status, resource, extra) = try await handler(urls)
            var headers = extra
            guard let resource else { return Response(status: status, headers: headers) }
            headers[.contentType] = "application/fhir+json; charset=utf-8"
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: resource.serialized())))
        } catch let error as HTTPParserError {
            // Malformed HTTP: the server answers 400 and closes (see DICOMwebErrorMiddleware).
            throw error
        } catch {
            let failure = Self.fhirError(error)
            if failure.status == .serverError || failure.status == .unavailable {
                logger.error("\(request.method) \(request.uri.path): \(error)")
            }
            return Response(status: HTTPResponse.Status(code: failure.status.rawValue),
                            headers: [.contentType: "application/fhir+json; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: failure.operationOutcome.serialized())))
        }
    }

    static func fhirError(_ error: any Error) -> FHIRError {
        switch error {
        case let error as FHIRError: return error
        case let error as ArchiveError where error.code == .notFound: return FHIRError(.notFound, "not-found", error.reason)
        case let error as ArchiveError where error.code == .storage:
            return FHIRError(.unavailable, "transient", "the archive's storage failed; nothing was stored (the server log has the details)")
        case let error as DICOMwebError:
            let status: FHIRError.Status = switch error.kind {
            case .notFound: .notFound
            case .notAcceptable: .notAcceptable
            case .unsupportedMediaType: .unsupportedMediaType
            case .payloadTooLarge, .badRequest, .rangeNotSatisfiable: .badRequest
            case .conflict: .conflict
            case .forbidden: .forbidden
            case .unauthorized: .unauthorized
            case .serverError: .serverError
            case .unavailable, .insufficientStorage: .unavailable
            }
            return FHIRError(status, status == .serverError ? "exception" : "invalid", error.reason)
        default: return FHIRError(.serverError, "exception", "internal error (the server log has the details)")
        }
    }

    /// JSON only: `_format` json / application/fhir+json / application/json, or an Accept that allows it.
    static func checkAcceptsJSON(_ request: Request) throws {
        let parameters = try QueryString.parameters(request.uri.query)
        if let format = parameters.last(where: { $0.0 == "_format" })?.1 {
            guard ["json", "application/fhir+json", "application/json"].contains(format.lowercased()) else {
                throw FHIRError(.notAcceptable, "not-supported", "_format=\(format) is not supported: MiniVNA answers FHIR in JSON only")
            }
            return
        }
        let entries = AcceptEntry.parse(request.headers[.accept])
        let json = ["application/fhir+json", "application/json"].compactMap(MediaType.init)
        guard entries.contains(where: { entry in json.contains { entry.mediaType.covers($0) } }) else {
            throw FHIRError(.notAcceptable, "not-supported",
                            "cannot answer with \(request.headers[.accept] ?? ""): MiniVNA answers FHIR in application/fhir+json only")
        }
    }

    static func requireObservation(_ type: String) throws {
        guard type == "Observation" else {
            if type == "DiagnosticReport" || type == "Device" {
                throw FHIRError(.badRequest, "not-supported", "\(type) is read-only here: the AI enrichment writes them with its results")
            }
            throw FHIRError(type == "ImagingStudy" || type == "Patient" || type == "Endpoint" ? .badRequest : .notFound, "not-supported",
                            "\(type) is read-only here: ImagingStudy, Patient and Endpoint are derived from the DICOM archive")
        }
    }

    static func body(_ request: Request, _ context: AppRequestContext) async throws -> [UInt8] {
        let type = request.headers[.contentType].flatMap(MediaType.init)?.essence
        guard type == "application/fhir+json" || type == "application/json" else {
            throw FHIRError(.unsupportedMediaType, "not-supported",
                            "Content-Type \(request.headers[.contentType] ?? "(none)") is not supported: send application/fhir+json")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maximumBody {
            throw FHIRError(.badRequest, "too-costly", "the body is larger than \(maximumBody) bytes")
        }
        await context.continueIfExpected(request)
        do {
            return Array(try await request.body.collect(upTo: maximumBody).readableBytesView)
        } catch let error as HTTPParserError {
            // Truncated or badly chunked: malformed HTTP, answered 400 with the connection closed.
            throw error
        } catch {
            throw FHIRError(.badRequest, "too-costly", "the body is larger than \(maximumBody) bytes")
        }
    }

    /// `W/"3"` or `"3"` → 3.
    static func ifMatch(_ header: String?) throws -> Int? {
        guard let header else { return nil }
        let digits = header.trimmingOptionalWhitespace().replacingOccurrences(of: "W/", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        guard let version = Int(digits) else { throw FHIRError(.badRequest, "invalid", "If-Match \(header) is not a version ETag like W/\"1\"") }
        return version
    }

    static func versionHeaders(_ resource: JSONValue) -> HTTPFields {
        guard let version = resource["meta"]?["versionId"]?.stringValue else { return [:] }
        var headers: HTTPFields = [.eTag: "W/\"\(version)\""]
        if let updated = resource["meta"]?["lastUpdated"]?.stringValue, let date = Self.instantParser.date(from: updated) {
            headers[.lastModified] = Self.httpDate.string(from: date)   // IMF-fixdate (RFC 9110 §5.6.7)
        }
        return headers
    }

    nonisolated(unsafe) static let instantParser: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    nonisolated(unsafe) static let httpDate: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter
    }()

    /// The search parameters (percent-decoded) and the Prefer handling.
    static func searchQuery(_ request: Request) throws -> SearchQuery {
        let parameters = try QueryString.parameters(request.uri.query).map { (name: $0.0, value: $0.1) }
        let prefer = request.headers[.prefer]?.lowercased() ?? ""
        return SearchQuery(parameters: parameters, strict: prefer.contains("handling=strict"))
    }
}
