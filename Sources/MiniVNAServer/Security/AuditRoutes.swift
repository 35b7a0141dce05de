import Archive
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /audit` (admins): the access audit as JSON, newest first, with filters `principal`,
/// `study`, `method`, `from`/`to` (ISO 8601 or seconds since 1970), `minStatus`, and paging
/// (`limit` ≤ 1000, `offset`). The same records are FHIR AuditEvents at `/fhir/AuditEvent`.
struct AuditRoutes: Sendable {
    let archive: Archive

    func register(on router: Router<AppRequestContext>) {
        router.get("/audit") { request, _ in try await list(request) }
    }

    private func list(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var filter = AccessRecordFilter()
        filter.principal = query.get("principal")
        filter.studyInstanceUID = query.get("study")
        filter.method = query.get("method")?.uppercased()
        filter.from = try query.get("from").map { try Self.time($0, name: "from") }
        filter.to = try query.get("to").map { try Self.time($0, name: "to") }
        filter.minimumStatus = try query.get("minStatus").map { try Self.integer($0, name: "minStatus", range: 100...599) }
        let limit = try query.get("limit").map { try Self.integer($0, name: "limit", range: 1...1000) } ?? 100
        let offset = try query.get("offset").map { try Self.integer($0, name: "offset", range: 0...Int.max) } ?? 0
        let (total, records) = try await archive.accessRecords(filter, limit: limit, offset: offset)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        struct Page: Encodable { let total: Int; let offset: Int; let records: [Item] }
        struct Item: Encodable {
            let id: Int64, time: String, principal: String?, roles: [String], clientAddress: String?, method: String, path: String
            let studies: [String], status: Int, bytes: Int
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let page = Page(total: total, offset: offset, records: records.map {
            Item(id: $0.id, time: formatter.string(from: Date(timeIntervalSince1970: $0.time)), principal: $0.principal, roles: $0.roles,
                 clientAddress: $0.clientAddress, method: $0.method, path: $0.path, studies: $0.studies, status: $0.status,
                 bytes: $0.bytes)
        })
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(page))))
    }

    static func time(_ text: String, name: String) throws -> Double {
        if let seconds = Double(text) { return seconds }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withFullDate]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        throw DICOMwebError(.badRequest, "\(name)=\(text) is not an ISO 8601 date or time, nor seconds since 1970")
    }

    static func integer(_ text: String, name: String, range: ClosedRange<Int>) throws -> Int {
        guard let value = Int(text), range.contains(value) else {
            throw DICOMwebError(.badRequest, "\(name)=\(text) is not an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }
}
