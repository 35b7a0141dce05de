import DICOM
import Foundation
import GRDB

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

    /// SQL conditions (over `study`, `series`, `instance` joined) and their arguments.
    var conditions: (sql: String, arguments: StatementArguments) {
        var sql = "study.studyInstanceUID = ?"
        var arguments: StatementArguments = [study]
        if let series { sql += " AND series.seriesInstanceUID = ?"; arguments += [series] }
        if let instance { sql += " AND instance.sopInstanceUID = ?"; arguments += [instance] }
        return (sql, arguments)
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
    private static let instanceJoin = """
        FROM instance JOIN series ON series.id = instance.seriesRowID JOIN study ON study.id = instance.studyRowID
        """
    /// Series by number, instances by number: the order viewers expect.
    private static let retrievalOrder = "ORDER BY series.seriesNumber, series.id, instance.instanceNumber, instance.id"

    /// The files of every instance the selector names, in series and instance number order.
    /// Throws `.notFound` naming the first level that does not exist.
    public func storedFiles(_ selector: InstanceSelector) async throws -> [StoredInstanceFile] {
        let store = self.store
        // Rows become Sendable values inside the closure, so the async read overload is used; a
        // single instance (frames, instance retrieve) is a point lookup.
        let files = selector.instance == nil
            ? try await index.pool.read { db in try Self.storedFiles(selector, store: store, db) }
            : try index.lookup { db in try Self.storedFiles(selector, store: store, db) }
        guard !files.isEmpty else { throw try notFound(selector) }
        return files
    }

    /// For thumbnails and series/study rendering: of each series the selector names (in series
    /// order), its middle instance (by instance number), then its first three. Each is a seek in
    /// the series' instance-number index: a 2,000-instance study costs a few small queries, not
    /// 2,000 decoded rows.
    public func representativeFiles(_ selector: InstanceSelector) async throws -> [StoredInstanceFile] {
        let store = self.store
        let files = try await index.pool.read { db in try Self.representativeFiles(selector, store: store, db) }
        guard !files.isEmpty else { throw try notFound(selector) }
        return files
    }

    /// Files to render (every instance the selector names, or only the representative ones) and
    /// the study's validator (see `metadataETag`), read together: one trip to the database, a
    /// point lookup (`ArchiveIndex.lookup`): rendered resources name one instance, or ask for
    /// representatives only.
    public func renderingCandidates(_ selector: InstanceSelector, representativesOnly: Bool) async throws
        -> (etag: String, files: [StoredInstanceFile]) {
        let store = self.store
        let (etag, files) = try index.lookup { db in
            (try Self.etag(selector, db),
             representativesOnly ? try Self.representativeFiles(selector, store: store, db) : try Self.storedFiles(selector, store: store, db))
        }
        guard let etag, !files.isEmpty else { throw try notFound(selector) }
        return (etag, files)
    }

    /// The study's validator alone (one indexed row, a point lookup); `.notFound` when the study
    /// is not in the archive. It keys cached renderings: an entry under the current validator was
    /// made from the study as it is, so its resource still exists. (On its own it says nothing
    /// about a series or an instance of the study.)
    public func studyValidator(_ selector: InstanceSelector) throws -> String {
        guard let validator = try index.lookup({ db in try Self.etag(selector, db) }) else {
            throw ArchiveError(.notFound, "study \(selector.study) is not in the archive", subject: selector.study)
        }
        return validator
    }

    private static func storedFiles(_ selector: InstanceSelector, store: FileBlobStore, _ db: Database) throws -> [StoredInstanceFile] {
        let (conditions, arguments) = selector.conditions
        // Three shapes (study, series, instance selectors): compiled once per connection. A
        // cursor decodes each row in place (fetchAll would copy every row first).
        return try Array(Row.fetchCursor(db.cachedStatement(sql: """
            SELECT study.studyInstanceUID, series.seriesInstanceUID, instance.sopInstanceUID, instance.sopClassUID,
                   instance.transferSyntaxUID, instance.path, instance.size
            \(Self.instanceJoin) WHERE \(conditions) \(Self.retrievalOrder)
            """), arguments: arguments).map { row in
            StoredInstanceFile(studyInstanceUID: row[0], seriesInstanceUID: row[1], sopInstanceUID: row[2], sopClassUID: row[3],
                               transferSyntaxUID: row[4], path: store.path(forRelativePath: row[5]), size: row[6])
        })
    }

    private static func representativeFiles(_ selector: InstanceSelector, store: FileBlobStore, _ db: Database) throws
        -> [StoredInstanceFile] {
        var seriesSQL = """
            SELECT series.id, series.numberOfSeriesRelatedInstances FROM series JOIN study ON study.id = series.studyRowID
            WHERE study.studyInstanceUID = ?
            """
        var arguments: StatementArguments = [selector.study]
        if let series = selector.series { seriesSQL += " AND series.seriesInstanceUID = ?"; arguments += [series] }
        let series = try Row.fetchAll(db.cachedStatement(sql: seriesSQL + " ORDER BY series.seriesNumber, series.id"),
                                      arguments: arguments).map { ($0[0] as Int64, $0[1] as Int) }
        let instances = try db.cachedStatement(sql: """
            SELECT study.studyInstanceUID, series.seriesInstanceUID, instance.sopInstanceUID, instance.sopClassUID,
                   instance.transferSyntaxUID, instance.path, instance.size
            \(Self.instanceJoin) WHERE instance.seriesRowID = ? ORDER BY instance.instanceNumber, instance.id LIMIT 1 OFFSET ?
            """)
        var result: [StoredInstanceFile] = []
        for (rowID, count) in series {
            let middle = count / 2
            for offset in [middle] + (0..<min(3, count)).filter({ $0 != middle }) {
                result += try Row.fetchAll(instances, arguments: [rowID, offset]).map { row in
                    StoredInstanceFile(studyInstanceUID: row[0], seriesInstanceUID: row[1], sopInstanceUID: row[2],
                                       sopClassUID: row[3], transferSyntaxUID: row[4],
                                       path: store.path(forRelativePath: row[5]), size: row[6])
                }
            }
        }
        return result
    }

    /// The precomputed metadata of every instance the selector names, as one JSON array whose
    /// BulkDataURIs start with `baseURL`.
    public func metadata(_ selector: InstanceSelector, baseURL: String) async throws -> MetadataDocument {
        let (conditions, arguments) = selector.conditions
        let (items, etag) = try await index.pool.read { db in
            let items = try Data.fetchAll(db.cachedStatement(sql: """
                SELECT instanceMetadata.json \(Self.instanceJoin)
                JOIN instanceMetadata ON instanceMetadata.instanceRowID = instance.id
                WHERE \(conditions) \(Self.retrievalOrder)
                """), arguments: arguments)
            return (items, try Self.etag(selector, db))
        }
        guard !items.isEmpty, let etag else { throw try notFound(selector) }
        return MetadataDocument(json: InstanceMetadata.array(items.map { [UInt8]($0) }, baseURL: baseURL), etag: etag)
    }

    /// The validator of the selector's metadata without building it (for If-None-Match).
    public func metadataETag(_ selector: InstanceSelector) async throws -> String? {
        try await index.pool.read { db in try Self.etag(selector, db) }
    }

    /// Changes whenever an instance of the study is added, replaced or removed (the study row's
    /// instance count and update time), so it is safe for series and instances too (an ETag
    /// only has to be unique per URL).
    private static func etag(_ selector: InstanceSelector, _ db: Database) throws -> String? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT id, numberOfStudyRelatedInstances, updatedAt FROM study WHERE studyInstanceUID = ?
            """), arguments: [selector.study]) else { return nil }
        let updated = (row[2] as Double).bitPattern
        return "\"\(row[0] as Int64)-\(row[1] as Int)-\(String(updated, radix: 36))\""
    }

    /// The not-found error for a selector, naming the level that is missing.
    func notFound(_ selector: InstanceSelector) throws -> ArchiveError {
        // Two indexed rows at most: a point lookup (no hop to the pool's queue and back).
        let (studyExists, seriesExists) = try index.lookup { db in
            let study = try Int64.fetchOne(db, sql: "SELECT id FROM study WHERE studyInstanceUID = ?", arguments: [selector.study])
            var series = false
            if let study, let uid = selector.series {
                series = try Int64.fetchOne(db, sql: "SELECT id FROM series WHERE seriesInstanceUID = ? AND studyRowID = ?",
                                            arguments: [uid, study]) != nil
            }
            return (study != nil, series)
        }
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
            let missing = try index.pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT instance.id, instance.path FROM instance
                    LEFT JOIN instanceMetadata ON instanceMetadata.instanceRowID = instance.id
                    WHERE instanceMetadata.instanceRowID IS NULL LIMIT 1000
                    """).map { ($0[0] as Int64, $0[1] as String) }
            }
            if missing.isEmpty { return }
            var computed: [(Int64, Data)] = []
            for (rowID, path) in missing {
                // A file that cannot be read still gets a row (an empty object), so this ends;
                // `minivna verify` reports the file.
                let json = (try? indexEntry(forStoredFile: path).metadataJSON) ?? Array("{}".utf8)
                computed.append((rowID, Data(json)))
            }
            try index.pool.write { db in
                for (rowID, json) in computed {
                    try db.execute(sql: "INSERT OR REPLACE INTO instanceMetadata (instanceRowID, json) VALUES (?, ?)",
                                   arguments: [rowID, json])
                }
            }
        }
    }
}
