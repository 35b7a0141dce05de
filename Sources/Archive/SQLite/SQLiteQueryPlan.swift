import DICOM
import Foundation
import GRDB

/// The SQL of a QIDO query over the index's tables (PS3.4 C.2.2.2 matching in SQLite's dialect).
struct SQLiteQueryPlan: Sendable {
    let sql: String
    let arguments: [DatabaseValue]
    init(_ query: QIDOQuery) throws {
        let attributes = QIDOResultBuilder.attributes(at: query.level)
        var select = attributes.map { "\($0.column) AS \"\($0.tag.hexString)\"" }
        var from: String
        // A representative file is read only for includefield attributes the index does not keep.
        let selectedTags = Set(attributes.map(\.tag))
        let needsFile = query.includeFields.contains { tag in
            !selectedTags.contains(tag) && !QIDOResultBuilder.answeredWithoutFile.contains(tag) && !(query.level == .study && tag == .modality)
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
}
