import Archive
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// Records every request that reaches the archive's data in the access audit: the time, the
/// principal and roles, the client's address, method and path, the studies it named or touched,
/// the status and the body bytes sent (counted as they are written, so a streamed retrieve is
/// recorded when it ends). Open routes (root page, health) and CORS preflights are not recorded.
struct AccessAuditMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let recorder: AccessAuditRecorder
    let permissions: RoutePermissions

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .options { return try await next(request, context) }
        if let endpoint = context.endpointPath, permissions.permission(request.method, endpointPath: endpoint) == .open {
            return try await next(request, context)
        }
        let started = Date().timeIntervalSince1970
        let note = context.accessNote
        let named = Self.studiesNamed(request, context)
        let recorder = self.recorder
        let client = context.clientAddress.map { address -> String in
            if let ip = address.ipAddress, let port = address.port { return "\(ip):\(port)" }
            return "\(address)"
        }
        @Sendable func record(status: Int, bytes: Int) {
            let principal = note.principal
            recorder.record(AccessRecord(time: started, principal: principal?.name, roles: principal?.roleNames ?? [],
                                         clientAddress: client, method: request.method.rawValue, path: request.uri.description,
                                         studies: Array(Set(named + note.studies)).sorted(), status: status, bytes: bytes))
        }
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Not turned into a response inside (the error middleware is inner): record its status.
            record(status: error is HTTPParserError ? 400 : (error as? any HTTPResponseError)?.status.code ?? 500, bytes: 0)
            throw error
        }
        var counted = response
        let status = response.status.code
        let body = response.body
        counted.body = ResponseBody(contentLength: body.contentLength) { writer in
            let count = CountingWriter.Count()
            do {
                try await body.write(CountingWriter(base: writer, bytes: count))
            } catch {
                record(status: status, bytes: count.value)
                throw error
            }
            record(status: status, bytes: count.value)
        }
        return counted
    }

    /// The studies a request names: its path's study, and StudyInstanceUID in its query.
    static func studiesNamed(_ request: Request, _ context: Context) -> [String] {
        var studies: [String] = []
        if let study = context.parameters.get("study") { studies.append(study) }
        for value in request.uri.queryParameters.getAll("StudyInstanceUID") + request.uri.queryParameters.getAll("0020000D") {
            studies += value.split(separator: ",").map(String.init)
        }
        if context.parameters.get("type") == "ImagingStudy", let id = context.parameters.get("id") { studies.append(id) }
        return studies
    }
}

/// A response body writer that counts what passes through it.
private struct CountingWriter: ResponseBodyWriter {
    final class Count: @unchecked Sendable { var value = 0 }
    var base: any ResponseBodyWriter
    let bytes: Count

    mutating func write(_ buffer: ByteBuffer) async throws {
        bytes.value += buffer.readableBytes
        try await base.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
    }
}
