import DICOM
import Foundation

/// A study, a series in it, or an instance in that series: what WADO-RS paths name.
public struct InstanceSelector: Sendable, Hashable, CustomStringConvertible {
    public let study: String
    public let series: String?
    public let instance: String?

    public init(study: String, series: String? = nil, instance: String? = nil) {
        self.study = study
        self.series = series
        self.instance = instance
    }

    public var description: String {
        if let instance { return "instance \(instance) of series \(series ?? "") in study \(study)" }
        if let series { return "series \(series) in study \(study)" }
        return "study \(study)"
    }
}

/// One stored instance's file, for retrieval.
public struct StoredInstanceFile: Sendable, Hashable {
    public let studyInstanceUID: String
    public let seriesInstanceUID: String
    public let sopInstanceUID: String
    public let sopClassUID: String
    public let transferSyntaxUID: String
    /// Absolute path of the file.
    public let path: String
    public let size: Int

    public var url: URL { URL(fileURLWithPath: path) }
}

/// Study or series metadata as one JSON array, with a validator for conditional requests.
public struct MetadataDocument: Sendable {
    public let json: [UInt8]
    public let etag: String
}

extension Archive {
    private func file(_ indexed: IndexedFile) -> StoredInstanceFile {
        StoredInstanceFile(studyInstanceUID: indexed.studyInstanceUID, seriesInstanceUID: indexed.seriesInstanceUID,
                           sopInstanceUID: indexed.sopInstanceUID, sopClassUID: indexed.sopClassUID,
                           transferSyntaxUID: indexed.transferSyntaxUID, path: store.path(forRelativePath: indexed.relativePath),
                           size: indexed.size)
    }

    /// What the index holds for a SOP Instance UID (a point lookup).
    public func storedInstance(sopInstanceUID: String) throws -> StoredInstance? {
        try index.storedInstance(sopInstanceUID: sopInstanceUID)
    }

    /// The files of every instance the selector names, in series and instance number order.
    /// Throws `.notFound` naming the first level that does not exist.
    public func storedFiles(_ selector: InstanceSelector) async throws -> [StoredInstanceFile] {
        // A single instance (frames, instance retrieve) is a point lookup.
        let files = try await index.storedFiles(selector, pointLookup: selector.instance != nil).map(file)
        guard !files.isEmpty else { throw try notFound(selector) }
        return files
    }

    /// For thumbnails and series/study rendering: of each series the selector names (in series
    /// order), its middle instance (by instance number), then its first three.
    public func representativeFiles(_ selector: InstanceSelector) async throws -> [StoredInstanceFile] {
        let files = try await index.representativeFiles(selector).map(file)
        guard !files.isEmpty else { throw try notFound(selector) }
        return files
    }

    /// Files to render (every instance the selector names, or only the representative ones) and
    /// the study's validator (see `metadataETag`), read together: one trip to the database, a
    /// point lookup: rendered resources name one instance, or ask for representatives only.
    public func renderingCandidates(_ selector: InstanceSelector, representativesOnly: Bool) async throws
        -> (etag: String, files: [StoredInstanceFile]) {
        let (etag, indexed) = try index.renderingCandidates(selector, representativesOnly: representativesOnly)
        guard let etag, !indexed.isEmpty else { throw try notFound(selector) }
        return (etag, indexed.map(file))
    }

    /// The study's validator alone (one indexed row, a point lookup); `.notFound` when the study
    /// is not in the archive. It keys cached renderings: an entry under the current validator was
    /// made from the study as it is, so its resource still exists. (On its own it says nothing
    /// about a series or an instance of the study.)
    public func studyValidator(_ selector: InstanceSelector) throws -> String {
        guard let validator = try index.studyValidator(selector) else {
            throw ArchiveError(.notFound, "study \(selector.study) is not in the archive", subject: selector.study)
        }
        return validator
    }

    /// The precomputed metadata of every instance the selector names, as one JSON array whose
    /// BulkDataURIs start with `baseURL`.
    public func metadata(_ selector: InstanceSelector, baseURL: String) async throws -> MetadataDocument {
        let (items, etag) = try await index.metadata(selector)
        guard !items.isEmpty, let etag else { throw try notFound(selector) }
        return MetadataDocument(json: InstanceMetadata.array(items, baseURL: baseURL), etag: etag)
    }

    /// The validator of the selector's metadata without building it (for If-None-Match). It
    /// changes whenever an instance of the study is added, replaced or removed, so it is safe for
    /// series and instances too (an ETag only has to be unique per URL).
    public func metadataETag(_ selector: InstanceSelector) async throws -> String? {
        try await index.metadataETag(selector)
    }

    /// The not-found error for a selector, naming the level that is missing.
    func notFound(_ selector: InstanceSelector) throws -> ArchiveError {
        let (studyExists, seriesExists) = try index.existingLevels(selector)
        if !studyExists { return ArchiveError(.notFound, "study \(selector.study) is not in the archive", subject: selector.study) }
        if let series = selector.series, !seriesExists {
            return ArchiveError(.notFound, "series \(series) is not in study \(selector.study)", subject: series)
        }
        if let instance = selector.instance {
            return ArchiveError(.notFound, "instance \(instance) is not in series \(selector.series ?? "")", subject: instance)
        }
        return ArchiveError(.notFound, "\(selector) has no instances", subject: selector.study)
    }

    /// Instances indexed before metadata was precomputed (an older data folder) get theirs now.
    func fillMissingMetadata() throws {
        while true {
            let missing = try index.instancesWithoutMetadata(limit: 1000)
            if missing.isEmpty { return }
            // A file that cannot be read still gets a row (an empty object), so this ends;
            // `minivna verify` reports the file.
            try index.setMetadata(missing.map { item in
                (item.rowID, (try? indexEntry(forStoredFile: item.path).metadataJSON) ?? Array("{}".utf8))
            })
        }
    }
}
