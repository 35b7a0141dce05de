import Foundation

/// A stored FHIR Observation version, as JSON text (the FHIR module owns what it means).
public struct ObservationRecord: Sendable, Hashable {
    public let id: String
    public let versionId: Int
    /// Seconds since 1970.
    public let lastUpdated: Double
    public let deleted: Bool
    public let json: String
}

/// What searches use of one Observation.
public struct ObservationSearchValues: Sendable {
    public struct Token: Sendable, Hashable {
        public var parameter: String
        public var system: String
        public var code: String
        public init(parameter: String, system: String, code: String) {
            self.parameter = parameter
            self.system = system
            self.code = code
        }
    }

    public var status: String
    public var subject: String
    /// A sortable `YYYYMMDDHHMMSS` stamp, or empty.
    public var effective: String
    public var device: String
    public var tokens: [Token]
    public var derivedFromStudies: [String]

    public init(status: String, subject: String, effective: String, device: String, tokens: [Token], derivedFromStudies: [String]) {
        self.status = status
        self.subject = subject
        self.effective = effective
        self.device = device
        self.tokens = tokens
        self.derivedFromStudies = derivedFromStudies
    }
}

/// A new version of an Observation to write.
public struct ObservationWrite: Sendable {
    public var id: String
    public var values: ObservationSearchValues
    /// True for a create (the id must be new), false for an update (it must exist).
    public var creating: Bool
    /// The version the client last saw (If-Match), checked against the current one.
    public var expectedVersion: Int?
    public var now: Double
    /// The resource's JSON for the version number it gets (meta.versionId, meta.lastUpdated).
    public var render: @Sendable (_ version: Int, _ lastUpdated: Double) throws -> String

    public init(id: String, values: ObservationSearchValues, creating: Bool, expectedVersion: Int?, now: Double,
                render: @escaping @Sendable (Int, Double) throws -> String) {
        self.id = id
        self.values = values
        self.creating = creating
        self.expectedVersion = expectedVersion
        self.now = now
        self.render = render
    }
}

public enum ObservationWriteOutcome: Sendable {
    case written(ObservationRecord)
    case alreadyExists
    case doesNotExist
    case versionMismatch(current: Int)
}

/// Which Observations: every condition must hold; the values of one condition are alternatives.
public struct ObservationFilter: Sendable {
    public struct TokenMatch: Sendable {
        public var code: String?
        public var system: String?
        /// `|code`: the coding must have no system.
        public var requiresNoSystem: Bool
        public init(code: String?, system: String?, requiresNoSystem: Bool) {
            self.code = code
            self.system = system
            self.requiresNoSystem = requiresNoSystem
        }
    }

    public enum Condition: Sendable {
        case ids([String])
        case statuses([String])
        case subjects([String])
        case devices([String])
        case derivedFromStudies([String])
        /// A token parameter (`code`, `category`) matching any of the alternatives.
        case tokens(parameter: String, anyOf: [TokenMatch])
        /// Bounds on the effective stamp (`YYYYMMDDHHMMSS`); an Observation without one never matches.
        case effective(after: (value: String, inclusive: Bool)?, before: (value: String, inclusive: Bool)?)
    }

    public var conditions: [Condition] = []
    public init() {}
}

/// An Observation as an older MiniVNA kept it in the index database.
struct LegacyObservation: Sendable {
    var record: ObservationRecord
    var values: ObservationSearchValues
}

extension Archive {
    /// The stored current version of an Observation (deleted ones included, flagged).
    public func observation(id: String) async throws -> ObservationRecord? {
        try await primary.observation(id: id)
    }

    public func writeObservation(_ write: ObservationWrite) async throws -> ObservationWriteOutcome {
        try await primary.writeObservation(write)
    }

    /// Marks the Observation deleted (a new version). False when it never existed.
    public func deleteObservation(id: String) async throws -> Bool {
        try await primary.deleteObservation(id: id, now: Date().timeIntervalSince1970)
    }

    /// Current, not deleted Observations matching the filter, by last update then id, with the total.
    public func searchObservations(_ filter: ObservationFilter, limit: Int, offset: Int) async throws
        -> (total: Int, resources: [String]) {
        try await primary.searchObservations(filter, limit: limit, offset: offset)
    }
}
