import DICOM
import Foundation
import GRDB

/// One page of QIDO results.
public struct QIDOResult: Sendable {
    public let dataSets: [DataSet]
    /// True when more results matched than were returned (limit, offset or the server maximum).
    public let truncated: Bool
}

/// The UIDs a RetrieveURL is built from.
public struct RetrieveKeys: Sendable {
    public let studyInstanceUID: String
    public let seriesInstanceUID: String?
    public let sopInstanceUID: String?
}

extension Archive {
    /// Most results one QIDO response returns when the client gives no (or a larger) limit.
    public static let maximumResults = 1_000

    /// Compiled QIDO statements, kept across requests for the first 256 query shapes.
    static let queryStatements = BoundedStatementCache()

    /// Runs a QIDO query against the index (indexed SQL; no file is read unless includefield
    /// asks for attributes the index does not keep).
    public func search(_ query: QIDOQuery, retrieveURL: (@Sendable (RetrieveKeys) -> String)? = nil) async throws -> QIDOResult {
        let plan = try QueryPlan(query)
        let rows: [ResultRow] = try await index.pool.read { db in
            try Row.fetchAll(Self.queryStatements.statement(db, sql: plan.sql), arguments: StatementArguments(plan.arguments))
                .map(ResultRow.init)
        }
        let limit = min(query.limit ?? Self.maximumResults, Self.maximumResults)
        let truncated = rows.count > limit || (query.limit.map { $0 > Self.maximumResults } ?? false && rows.count > Self.maximumResults)
        var dataSets: [DataSet] = []
        dataSets.reserveCapacity(min(rows.count, limit))
        for row in rows.prefix(limit) {
            dataSets.append(try plan.dataSet(for: row, query: query, retrieveURL: retrieveURL, store: store, headerOptions: readOptions(.header)))
        }
        return QIDOResult(dataSets: dataSets, truncated: truncated)
    }
}

/// A fetched row as Sendable values keyed by column alias.
struct ResultRow: Sendable {
    var values: [String: DatabaseValue]
    init(_ row: Row) {
        var values: [String: DatabaseValue] = [:]
        for (column, value) in row { values[column] = value }
        self.values = values
    }
    func string(_ key: String) -> String? { values[key].flatMap { String.fromDatabaseValue($0) } }
    func int(_ key: String) -> Int? { values[key].flatMap { Int.fromDatabaseValue($0) } }
}

/// The SQL for a query and how to turn its rows into result datasets.
struct QueryPlan: Sendable {
    /// Attributes `dataSet(for:)` fills from counts and constants, not from a file.
    static let answeredWithoutFile: Set<Tag> = [
        .numberOfStudyRelatedSeries, .numberOfStudyRelatedInstances, .numberOfSeriesRelatedInstances,
        .sopClassesInStudy, .instanceAvailability, .retrieveURL, .specificCharacterSet,
    ]

    let sql: String
    let arguments: [DatabaseValue]
    /// Attributes selected (level at or above the query level).
    let attributes: [QueryAttribute]

    init(_ query: QIDOQuery) throws {
        attributes = QueryAttribute.all.filter { $0.level.rank <= query.level.rank }
        var select = attributes.map { "\($0.column) AS \"\($0.tag.hexString)\"" }
        var from: String
        // A representative file is read only for includefield attributes the index does not keep.
        let selectedTags = Set(attributes.map(\.tag))
        let needsFile = query.includeFields.contains { tag in
            !selectedTags.contains(tag) && !Self.answeredWithoutFile.contains(tag) && !(query.level == .study && tag == .modality)
        }
        switch query.level {
        case .study:
            from = "study"
            if needsFile { select += ["(SELECT path FROM instance WHERE instance.studyRowID = study.id LIMIT 1) AS path"] }
            if query.includeFields.contains(.modality) {
                // Viewers (OHIF) ask studies for Modality, a series attribute: the first series' one.
                select += ["(SELECT modality FROM series WHERE series.studyRowID = study.id ORDER BY series.id LIMIT 1) AS studyModality"]
            }
        case .series:
            from = "series JOIN study ON study.id = series.studyRowID"
            select += ["series.numberOfSeriesRelatedInstances AS nSeriesInstances"]
            if needsFile { select += ["(SELECT path FROM instance WHERE instance.seriesRowID = series.id LIMIT 1) AS path"] }
        case .instance:
            from = "instance JOIN series ON series.id = instance.seriesRowID JOIN study ON study.id = instance.studyRowID"
            select += ["series.numberOfSeriesRelatedInstances AS nSeriesInstances", "instance.path AS path",
                       "instance.transferSyntaxUID AS transferSyntaxUID"]
        }
        select += ["study.numberOfStudyRelatedSeries AS nStudySeries", "study.numberOfStudyRelatedInstances AS nStudyInstances",
                   "study.sopClassesInStudy AS sopClassesInStudy"]

        var conditions: [String] = []
        var arguments: [DatabaseValue] = []
        if let study = query.studyInstanceUID {
            conditions.append("study.studyInstanceUID = ?")
            arguments.append((study).databaseValue)
        }
        if let series = query.seriesInstanceUID {
            conditions.append("series.seriesInstanceUID = ?")
            arguments.append((series).databaseValue)
        }
        for (tag, match) in query.matches.sorted(by: { $0.key < $1.key }) {
            guard let attribute = QueryAttribute.byTag[tag] else { continue }
            if let condition = Self.condition(attribute, match, fuzzy: query.fuzzyMatching, arguments: &arguments) {
                conditions.append(condition)
            }
        }
        let orderColumn = query.level == .study ? "study.id" : query.level == .series ? "series.id" : "instance.id"
        let fetchLimit = min(query.limit ?? Archive.maximumResults, Archive.maximumResults) + 1
        sql = "SELECT \(select.joined(separator: ", ")) FROM \(from)"
            + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY \(orderColumn) LIMIT ? OFFSET ?"
        // Bound, not inlined: every page of a query is then one statement text (and one cached
        // compiled statement).
        arguments += [fetchLimit.databaseValue, query.offset.databaseValue]
        self.arguments = arguments
    }

    /// SQL for one matching rule (PS3.4 C.2.2.2).
    static func condition(_ attribute: QueryAttribute, _ match: QIDOQuery.Match, fuzzy: Bool,
                          arguments: inout [DatabaseValue]) -> String? {
        let column = attribute.column
        switch (attribute.kind, match) {
        case (_, .universal):
            return nil
        case (.codeList, .single(let value)):
            arguments.append((value).databaseValue)
            return "instr(\(column), '\\' || ? || '\\') > 0"
        case (.codeList, .list(let values)):
            arguments += values.map(\.databaseValue)
            return "(" + values.map { _ in "instr(\(column), '\\' || ? || '\\') > 0" }.joined(separator: " OR ") + ")"
        case (.codeList, .wildcard(let pattern)):
            arguments.append(("*\\" + globPattern(pattern) + "\\*").databaseValue)
            return "\(column) GLOB ?"
        case (.personName, .single(let value)) where fuzzy, (.personName, .wildcard(let value)) where fuzzy:
            // Fuzzy: case- and accent-insensitive prefix match on each name component.
            let folded = NameNormalization.fold(value).replacingOccurrences(of: "^", with: " ")
            let words = folded.split(separator: " ").map(String.init)
            guard !words.isEmpty else { return nil }
            var parts: [String] = []
            for word in words {
                // The word's DICOM wildcards become LIKE wildcards; everything else is literal.
                arguments.append(("% " + likePattern(word, wildcards: true) + "%").databaseValue)
                parts.append("\(attribute.fuzzyColumn ?? column) LIKE ? ESCAPE '\\'")
            }
            return "(" + parts.joined(separator: " AND ") + ")"
        case (.personName, .single(let value)):
            // PN matching is case-insensitive, Unicode-wide (PS3.4 C.2.2.2.1 allows it; viewers expect it).
            arguments.append(NameNormalization.caseFolded(value).databaseValue)
            return "\(attribute.foldedColumn ?? column) = ?"
        case (.personName, .wildcard(let value)):
            arguments.append(globPattern(NameNormalization.caseFolded(value)).databaseValue)
            return "\(attribute.foldedColumn ?? column) GLOB ?"
        case (_, .wildcard(let value)):
            arguments.append((globPattern(value)).databaseValue)
            return "\(column) GLOB ?"
        case (.integer, .single(let value)):
            arguments.append(ValueParsing.integerString(value)?.databaseValue ?? .null)
            return "\(column) = ?"
        case (_, .single(let value)):
            arguments.append((value).databaseValue)
            return "\(column) = ?"
        case (_, .list(let values)):
            arguments += values.map(\.databaseValue)
            return "\(column) IN (" + values.map { _ in "?" }.joined(separator: ", ") + ")"
        case (_, .range(let lower, let upper)):
            // The date index only pays for a narrow range: over a wide one SQLite would walk most of
            // it and then sort, where scanning studies in row order stops at the page's end. `+`
            // keeps the planner off the index for ranges longer than about a year.
            let column = attribute.kind == .date && !Self.isNarrowDateRange(lower, upper) ? "+\(column)" : column
            var parts = ["\(column) != ''"]
            if let lower {
                arguments.append((lower).databaseValue)
                parts.append("\(column) >= ?")
            }
            if let upper {
                if attribute.kind == .date {
                    // DA values are YYYYMMDD: a plain bound lets SQLite scan the date index's range.
                    arguments.append(upper.databaseValue)
                    parts.append("\(column) <= ?")
                } else {
                    // Times (and date-times) may carry more precision than the bound: compare its length.
                    arguments += [upper.databaseValue, upper.databaseValue]
                    parts.append("substr(\(column), 1, length(?)) <= ?")
                }
            }
            return "(" + parts.joined(separator: " AND ") + ")"
        }
    }

    /// Both bounds given (YYYYMMDD) and at most ~13 months apart.
    static func isNarrowDateRange(_ lower: String?, _ upper: String?) -> Bool {
        guard let lower, let upper, let a = DICOMDate(lower), let b = DICOMDate(upper) else { return false }
        let span = (b.year - a.year) * 372 + (b.month - a.month) * 31 + (b.day - a.day)
        return span <= 400
    }

    /// `*`/`?` are GLOB's own wildcards; `[` must be escaped.
    static func globPattern(_ value: String) -> String {
        value.replacingOccurrences(of: "[", with: "[[]")
    }

    /// LIKE with `\` as the escape character; DICOM `*`/`?` become `%`/`_` when asked.
    static func likePattern(_ value: String, wildcards: Bool = false) -> String {
        var out = ""
        for character in value {
            switch character {
            case "%", "_", "\\": out += "\\" + String(character)
            case "*" where wildcards: out += "%"
            case "?" where wildcards: out += "_"
            default: out.append(character)
            }
        }
        return out
    }

    /// The result dataset: the level's default attributes (PS3.18 Table 10.6.3-3/4/5), the
    /// matched keys, included fields, counts, availability and RetrieveURL.
    func dataSet(for row: ResultRow, query: QIDOQuery, retrieveURL: (@Sendable (RetrieveKeys) -> String)?,
                 store: FileBlobStore, headerOptions: ReadOptions) throws -> DataSet {
        var ds = DataSet(characterSet: .utf8)
        // Study attributes come back on /series and /instances when no study is in the path.
        let studyDefaults = query.level == .study || query.studyInstanceUID == nil
        let seriesDefaults = query.level == .series || (query.level == .instance && query.seriesInstanceUID == nil)
        var wanted = Set<Tag>()
        for attribute in attributes {
            let isDefault = attribute.levels.contains(attribute.level) && (
                attribute.level == query.level
                || (attribute.level == .study && studyDefaults)
                || (attribute.level == .series && seriesDefaults))
            if isDefault || query.includeAll || query.includeFields.contains(attribute.tag) || query.matches[attribute.tag] != nil {
                wanted.insert(attribute.tag)
            }
        }
        var hasNonASCII = false
        for attribute in attributes where wanted.contains(attribute.tag) {
            let key = attribute.tag.hexString
            switch attribute.kind {
            case .integer:
                if let value = row.int(key) {
                    if attribute.vr == .US {
                        ds.set(DataElement(tag: attribute.tag, vr: .US, bytes: NumericValue.encode([UInt64(value)], size: 2)))
                    } else {
                        ds.setString(attribute.tag, vr: attribute.vr, String(value))
                    }
                } else {
                    ds.set(DataElement(tag: attribute.tag, vr: attribute.vr, bytes: []))
                }
            case .codeList:
                let values = (row.string(key) ?? "").split(separator: "\\").map(String.init)
                ds.setStrings(attribute.tag, vr: attribute.vr, values)
            default:
                let value = row.string(key) ?? ""
                if value.utf8.contains(where: { $0 >= 0x80 }) { hasNonASCII = true }
                ds.setStrings(attribute.tag, vr: attribute.vr,
                              attribute.vr == .PN || attribute.vr.isSingleValuedText
                                  ? [value] : value.split(separator: "\\", omittingEmptySubsequences: false).map(String.init))
            }
        }
        if hasNonASCII { ds.setString(.specificCharacterSet, vr: .CS, "ISO_IR 192") }
        let studyUID = row.string(Tag.studyInstanceUID.hexString) ?? ""
        let seriesUID = row.string(Tag.seriesInstanceUID.hexString)
        let instanceUID = row.string(Tag.sopInstanceUID.hexString)
        if studyDefaults || query.includeAll {
            ds.setString(.numberOfStudyRelatedSeries, vr: .IS, String(row.int("nStudySeries") ?? 0))
            ds.setString(.numberOfStudyRelatedInstances, vr: .IS, String(row.int("nStudyInstances") ?? 0))
        }
        if query.level != .study, seriesDefaults || query.includeAll {
            ds.setString(.numberOfSeriesRelatedInstances, vr: .IS, String(row.int("nSeriesInstances") ?? 0))
        }
        if query.includeAll || query.includeFields.contains(.sopClassesInStudy) {
            ds.setStrings(.sopClassesInStudy, vr: .UI, (row.string("sopClassesInStudy") ?? "").split(separator: "\\").map(String.init))
        }
        if let modality = row.string("studyModality") { ds.setString(.modality, vr: .CS, modality) }
        ds.setString(.instanceAvailability, vr: .CS, "ONLINE")
        if let retrieveURL {
            let keys = RetrieveKeys(studyInstanceUID: studyUID,
                                    seriesInstanceUID: query.level == .study ? nil : seriesUID,
                                    sopInstanceUID: query.level == .instance ? instanceUID : nil)
            ds.setString(.retrieveURL, vr: .UR, retrieveURL(keys))
        }
        // includefield attributes the index does not keep: from a representative file's header.
        let selected = Set(attributes.map(\.tag))
        let extra = query.includeFields.filter { !ds.contains($0) && !selected.contains($0) }
        if !extra.isEmpty, let path = row.string("path"),
           let header = try? Part10Reader.read(path: store.url(forRelativePath: path).path, options: headerOptions) {
            for tag in extra {
                if let element = header.dataSet[tag] {
                    var copy = element
                    if element.vr.isString, let strings = header.dataSet.strings(tag) {
                        copy = DataElement(tag: tag, vr: element.vr, bytes: TextValue.encode(strings, vr: element.vr, characterSet: .utf8))
                        if strings.contains(where: { $0.utf8.contains { $0 >= 0x80 } }) {
                            ds.setString(.specificCharacterSet, vr: .CS, "ISO_IR 192")
                        }
                    }
                    ds.set(copy)
                } else {
                    ds.set(DataElement(tag: tag, vr: DataDictionary.implicitVR(for: tag), bytes: []))
                }
            }
        }
        return ds
    }
}
