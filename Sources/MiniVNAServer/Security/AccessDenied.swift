import FHIR
import HTTPTypes
import Hummingbird
import NIOCore

/// A request refused by access control: 401 (no credential, or one that is not accepted, with
/// the challenges the client can answer) or 403 (authenticated, not allowed). Answered as an
/// OperationOutcome under `/fhir` and as a DICOMweb error body elsewhere.
struct AccessDenied: Error, Sendable {
    enum Kind: Sendable { case unauthenticated, forbidden }

    let kind: Kind
    let reason: String
    /// `WWW-Authenticate` values for a 401.
    var challenges: [String] = []

    func response(for request: Request, context: some RequestContext) throws -> Response {
        if request.uri.path == "/fhir" || request.uri.path.hasPrefix("/fhir/") {
            let failure = FHIRError(kind == .unauthenticated ? .unauthorized : .forbidden,
                                    kind == .unauthenticated ? "login" : "forbidden", reason)
            var headers: HTTPFields = [.contentType: "application/fhir+json; charset=utf-8"]
            addChallenges(&headers)
            return Response(status: HTTPResponse.Status(code: failure.status.rawValue), headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(string: failure.operationOutcome.serialized())))
        }
        var error = DICOMwebError(kind == .unauthenticated ? .unauthorized : .forbidden, reason)
        addChallenges(&error.headers)
        return try error.response(from: request, context: context)
    }

    private func addChallenges(_ headers: inout HTTPFields) {
        for challenge in challenges { headers.append(HTTPField(name: .wwwAuthenticate, value: challenge)) }
    }
}
