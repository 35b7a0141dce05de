import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import Imaging
import NIOHTTP1

/// An HTTP error with the reason the client gets in the body. The one place where module errors
/// (ArchiveError, DICOMParseError) become HTTP statuses.
struct DICOMwebError: HTTPResponseError, CustomStringConvertible {
    enum Kind: Sendable {
        case badRequest, unauthorized, forbidden, notFound, notAcceptable, conflict, payloadTooLarge, unsupportedMediaType, rangeNotSatisfiable,
             serverError, unavailable, insufficientStorage
    }

    let kind: Kind
    let reason: String
    /// Extra headers (e.g. the media types available for a 406).
    var headers: HTTPFields = [:]

    init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    var description: String { reason }

    var status: HTTPResponse.Status {
        switch kind {
        case .badRequest: return .badRequest
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .notFound: return .notFound
        case .notAcceptable: return .notAcceptable
        case .conflict: return .conflict
        case .payloadTooLarge: return .contentTooLarge
        case .unsupportedMediaType: return .unsupportedMediaType
        case .rangeNotSatisfiable: return .rangeNotSatisfiable
        case .serverError: return .internalServerError
        case .unavailable: return .serviceUnavailable
        case .insufficientStorage: return .init(code: 507, reasonPhrase: "Insufficient Storage")
        }
    }

    /// Archive errors → HTTP (for whole requests; STOW maps per-instance failures to reason codes).
    init(_ error: ArchiveError) {
        switch error.code {
        case .invalidQuery: self.init(.badRequest, error.reason)
        case .notFound: self.init(.notFound, error.reason)
        case .conflict, .studyMismatch: self.init(.conflict, error.reason)
        case .cannotUnderstand, .invalidInstance: self.init(.badRequest, error.reason)
        case .storage: self.init(.unavailable, "the archive's storage failed (the server log has the details)")
        }
    }

    /// Any error → the DICOMweb error to answer with.
    static func from(_ error: any Error) -> DICOMwebError {
        switch error {
        case let error as DICOMwebError: return error
        case let error as ArchiveError: return DICOMwebError(error)
        case let error as DICOMParseError: return DICOMwebError(.badRequest, error.description)
        // A codec that cannot produce what was negotiated: the representation is not available.
        case let error as CodecError: return DICOMwebError(.notAcceptable, "cannot transcode: \(error.reason)")
        case let error as HTTPError: return DICOMwebError(error.status == .notFound ? .notFound : .badRequest, error.body ?? "\(error.status)")
        case let error as HTTPParserError: return DICOMwebError(.badRequest, "malformed HTTP request: \(error)")
        default: return DICOMwebError(.serverError, "internal error (the server log has the details)")
        }
    }

    /// A storage failure as the client may see it: 507 when the volume is full, 503 when it
    /// takes no writes (or failed otherwise), never the archive's own text, which names paths.
    static func storage(_ condition: StorageCondition) -> DICOMwebError {
        switch condition {
        case .full: DICOMwebError(.insufficientStorage, "the archive's storage is full; nothing was stored")
        case .readOnly(let why): DICOMwebError(.unavailable, "the archive's storage takes no writes (\(why)); nothing was stored")
        case .writable: DICOMwebError(.unavailable, "the archive's storage failed; nothing was stored (the server log has the details)")
        }
    }

    /// A JSON body `{"error": reason, "status": code}` with its Content-Type, always.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let body = #"{"status":\#(status.code),"error":\#(JSONString.quote(reason))}"#
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Catches every error a route throws and answers with `DICOMwebError`'s body, so no error
/// reaches the client without its reason and Content-Type.
struct DICOMwebErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Probed when storing fails, to say whether the volume is full or read-only.
    let archive: Archive

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPParserError {
            // A malformed request (a body shorter than its Content-Length, a bad chunk size): the
            // client's fault, and the connection cannot carry another request. Rethrown, the
            // server answers 400 with `Connection: close`.
            context.logger.notice("client error: malformed HTTP in \(request.method) \(request.uri.path): \(error)")
            throw error
        } catch let error as ArchiveError where error.code == .storage {
            context.logger.error("\(request.method) \(request.uri.path): storage failed: \(error)")
            return try DICOMwebError.storage(archive.storageCondition()).response(from: request, context: context)
        } catch {
            let mapped = DICOMwebError.from(error)
            if mapped.kind == .serverError { context.logger.error("\(request.method) \(request.uri.path): \(error)") }
            return try mapped.response(from: request, context: context)
        }
    }
}
