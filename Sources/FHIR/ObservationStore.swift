import Archive
import DICOM
import Foundation

/// Observations as FHIR resources, kept in the archive's primary store (they cannot be rebuilt
/// from the files, so they survive reindexing and the loss of the index). This type owns what a
/// version means in FHIR (`meta.versionId`, `meta.lastUpdated`, the write rules' errors); the
/// archive owns the storage.
public struct ObservationStore: Sendable {
    let archive: Archive

    public init(archive: Archive) {
        self.archive = archive
    }

    typealias Indexed = ObservationSearchValues

    /// A stored version.
    public struct Stored: Sendable {
        public let id: String
        public let versionId: Int
        public let lastUpdated: Double
        public let deleted: Bool
        public let resource: JSONValue
    }

    func read(id: String) async throws -> Stored? {
        guard let record = try await archive.observation(id: id) else { return nil }
        return Stored(id: id, versionId: record.versionId, lastUpdated: record.lastUpdated, deleted: record.deleted,
                      resource: try JSONValue.parse(Array(record.json.utf8)))
    }

    /// Writes a new version (versionId = previous + 1, or 1); `expectedVersion` (If-Match) must
    /// match the current one. Returns the stored resource with `id` and `meta` set.
    func write(id: String, resource: JSONValue, indexed: Indexed, creating: Bool, expectedVersion: Int?) async throws -> Stored {
        guard case .object(let members) = resource else { throw FHIRError(.badRequest, "structure", "not an object") }
        let outcome = try await archive.writeObservation(ObservationWrite(
            id: id, values: indexed, creating: creating, expectedVersion: expectedVersion, now: Date().timeIntervalSince1970) { version, now in
            Self.versioned(members, id: id, version: version, lastUpdated: now).serialized()
        })
        switch outcome {
        case .written(let record):
            return Stored(id: id, versionId: record.versionId, lastUpdated: record.lastUpdated, deleted: false,
                          resource: Self.versioned(members, id: id, version: record.versionId, lastUpdated: record.lastUpdated))
        case .alreadyExists:
            throw FHIRError(.conflict, "duplicate", "Observation/\(id) already exists")
        case .doesNotExist:
            throw FHIRError(.notFound, "not-found", "Observation/\(id) does not exist (create it with POST)")
        case .versionMismatch(let current):
            throw FHIRError(.preconditionFailed, "conflict",
                            "If-Match names version \(expectedVersion ?? 0) but Observation/\(id) is at version \(current)")
        }
    }

    private static func versioned(_ members: [String: JSONValue], id: String, version: Int, lastUpdated: Double) -> JSONValue {
        var members = members
        members["id"] = .string(id)
        var meta = members["meta"]?.objectValue ?? [:]
        meta["versionId"] = .string(String(version))
        meta["lastUpdated"] = .string(Resources.instant(lastUpdated))
        members["meta"] = .object(meta)
        return .object(members)
    }

    /// Marks the Observation deleted (later reads answer 410). Returns false when it never existed.
    func delete(id: String) async throws -> Bool {
        try await archive.deleteObservation(id: id)
    }

    func search(_ filter: ObservationFilter, limit: Int, offset: Int) async throws -> (total: Int, resources: [JSONValue]) {
        let result = try await archive.searchObservations(filter, limit: limit, offset: offset)
        return (result.total, try result.resources.map { try JSONValue.parse(Array($0.utf8)) })
    }
}
