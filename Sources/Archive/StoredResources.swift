import Foundation

/// A FHIR resource besides Observation that the archive keeps as primary data (the
/// DiagnosticReports and Devices enrichment writes): its current version's JSON and the values
/// searches use. The FHIR module owns what they mean.
public struct StoredResourceRecord: Sendable, Hashable {
    public let resourceType: String
    public let id: String
    public let versionId: Int
    public let lastUpdated: Double
    public let json: String
}

/// What searches use of a stored resource (empty strings where the type has no such value).
public struct StoredResourceValues: Sendable, Hashable {
    public var status: String
    /// `Patient/key`.
    public var subject: String
    public var studyInstanceUID: String
    public var codeSystem: String
    public var code: String
    /// `Device/id`.
    public var device: String

    public init(status: String = "", subject: String = "", studyInstanceUID: String = "", codeSystem: String = "",
                code: String = "", device: String = "") {
        self.status = status
        self.subject = subject
        self.studyInstanceUID = studyInstanceUID
        self.codeSystem = codeSystem
        self.code = code
        self.device = device
    }
}

/// Which stored resources of one type: every condition must hold; the values of one condition
/// are alternatives.
public struct StoredResourceFilter: Sendable {
    public enum Condition: Sendable {
        case ids([String])
        case statuses([String])
        case subjects([String])
        case studies([String])
        case devices([String])
        /// `code` and optionally `system` (nil: any system).
        case codes([(system: String?, code: String)])
    }

    public var resourceType: String
    public var conditions: [Condition] = []

    public init(resourceType: String) {
        self.resourceType = resourceType
    }
}

extension Archive {
    public func storedResource(type: String, id: String) async throws -> StoredResourceRecord? {
        try await primary.storedResource(type: type, id: id)
    }

    /// Writes a resource's next version (1 when new); `render` gets the version and the time.
    /// Nothing is written when the JSON it renders for the current version number is the one
    /// stored (a replay), and the stored record is returned.
    @discardableResult
    public func writeStoredResource(type: String, id: String, values: StoredResourceValues,
                                    render: @escaping @Sendable (_ version: Int, _ lastUpdated: Double) throws -> String)
        async throws -> StoredResourceRecord {
        try await primary.writeStoredResource(type: type, id: id, values: values, now: Date().timeIntervalSince1970, render: render)
    }

    public func searchStoredResources(_ filter: StoredResourceFilter, limit: Int, offset: Int) async throws
        -> (total: Int, resources: [String]) {
        try await primary.searchStoredResources(filter, limit: limit, offset: offset)
    }
}
