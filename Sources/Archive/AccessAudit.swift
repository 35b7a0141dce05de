import Foundation

/// One request that touched the archive's data, as the access audit keeps it (IHE ATNA / DICOM
/// PS3.15 A.5: who, from where, what, when, with what outcome). Primary data: it lives in
/// `primary.sqlite`, survives `reindex` and is copied by `backup`.
public struct AccessRecord: Sendable, Hashable, Codable {
    /// Assigned by the store (0 until recorded).
    public var id: Int64
    /// Seconds since 1970 when the request arrived.
    public var time: Double
    /// The authenticated principal's name; nil for an anonymous request (no authentication
    /// configured, or none presented).
    public var principal: String?
    /// The principal's roles, as configured (empty when anonymous).
    public var roles: [String]
    /// `ip:port` of the client, when the request came over a socket.
    public var clientAddress: String?
    public var method: String
    /// The path and query the client asked for.
    public var path: String
    /// The studies the request named or changed (path, query, stored instances).
    public var studies: [String]
    public var status: Int
    /// Bytes of the response body sent.
    public var bytes: Int

    public init(id: Int64 = 0, time: Double, principal: String?, roles: [String], clientAddress: String?, method: String,
                path: String, studies: [String], status: Int, bytes: Int) {
        self.id = id
        self.time = time
        self.principal = principal
        self.roles = roles
        self.clientAddress = clientAddress
        self.method = method
        self.path = path
        self.studies = studies
        self.status = status
        self.bytes = bytes
    }
}

/// Which access records: every set condition must hold.
public struct AccessRecordFilter: Sendable, Hashable {
    public var id: Int64?
    public var principal: String?
    public var studyInstanceUID: String?
    public var method: String?
    /// Seconds since 1970, inclusive.
    public var from: Double?
    public var to: Double?
    /// Only records with a status at or above this (e.g. 400: refusals and errors).
    public var minimumStatus: Int?
    public var maximumStatus: Int?

    public init(principal: String? = nil, studyInstanceUID: String? = nil, method: String? = nil, from: Double? = nil,
                to: Double? = nil, minimumStatus: Int? = nil) {
        self.principal = principal
        self.studyInstanceUID = studyInstanceUID
        self.method = method
        self.from = from
        self.to = to
        self.minimumStatus = minimumStatus
    }
}

extension Archive {
    /// Appends access records in one transaction (the server batches them).
    public func recordAccess(_ records: [AccessRecord]) async throws {
        guard !records.isEmpty else { return }
        try await primary.recordAccess(records)
    }

    /// Access records matching `filter`, newest first, and how many match in all.
    public func accessRecords(_ filter: AccessRecordFilter, limit: Int, offset: Int) async throws
        -> (total: Int, records: [AccessRecord]) {
        try await primary.accessRecords(filter, limit: limit, offset: offset)
    }

    /// Removes the records older than `time` (retention); returns how many went.
    @discardableResult
    public func pruneAccessRecords(before time: Double) async throws -> Int {
        try await primary.pruneAccessRecords(before: time)
    }
}
