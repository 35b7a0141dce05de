import DICOM

/// A QIDO-RS search (PS3.18 §10.6) as typed values: built from query parameters (keys by keyword
/// or tag), validated here so malformed input is a clear error, never a SQL problem.
public struct QIDOQuery: Sendable, Hashable {
    public enum Level: String, Sendable { case study, series, instance }

    public enum Match: Sendable, Hashable {
        /// Empty value: no constraint, but the attribute is returned (PS3.4 C.2.2.2.3).
        case universal
        /// Exact (case-sensitive; PN case-insensitive) match.
        case single(String)
        /// `*` and `?` wildcards (PS3.4 C.2.2.2.4).
        case wildcard(String)
        /// UID list (PS3.4 C.2.2.2.2): any of the values.
        case list([String])
        /// Date/time range, either end open (PS3.4 C.2.2.2.5).
        case range(lower: String?, upper: String?)
    }

    public let level: Level
    /// Scope from the path: /studies/{study}/series, /studies/{study}/series/{series}/instances.
    public var studyInstanceUID: String?
    public var seriesInstanceUID: String?
    public var matches: [Tag: Match] = [:]
    public var fuzzyMatching = false
    public var includeFields: Set<Tag> = []
    public var includeAll = false
    public var limit: Int?
    public var offset = 0

    public init(level: Level, studyInstanceUID: String? = nil, seriesInstanceUID: String? = nil) {
        self.level = level
        self.studyInstanceUID = studyInstanceUID
        self.seriesInstanceUID = seriesInstanceUID
    }

    /// Parses decoded query parameters. Unknown or unsupported keys, bad numbers and bad
    /// ranges throw `ArchiveError.invalidQuery` naming the key.
    public static func parse(_ parameters: [(key: String, value: String)], level: Level,
                             studyInstanceUID: String? = nil, seriesInstanceUID: String? = nil) throws -> QIDOQuery {
        var query = QIDOQuery(level: level, studyInstanceUID: studyInstanceUID, seriesInstanceUID: seriesInstanceUID)
        for (key, value) in parameters {
            switch key {
            case "limit":
                guard let n = Int(value), n >= 0 else {
                    throw ArchiveError(.invalidQuery, "limit must be a non-negative integer, not \"\(value)\"", subject: key)
                }
                query.limit = n
            case "offset":
                guard let n = Int(value), n >= 0 else {
                    throw ArchiveError(.invalidQuery, "offset must be a non-negative integer, not \"\(value)\"", subject: key)
                }
                query.offset = n
            case "fuzzymatching":
                guard value == "true" || value == "false" else {
                    throw ArchiveError(.invalidQuery, "fuzzymatching must be true or false, not \"\(value)\"", subject: key)
                }
                query.fuzzyMatching = value == "true"
            case "includefield":
                for field in value.split(separator: ",", omittingEmptySubsequences: true).map(String.init) {
                    if field == "all" { query.includeAll = true; continue }
                    guard let tag = attributeTag(field) else {
                        throw ArchiveError(.invalidQuery, "includefield \"\(field)\" is not a known attribute keyword or tag", subject: field)
                    }
                    query.includeFields.insert(tag)
                }
            default:
                guard let tag = attributeTag(key) else {
                    throw ArchiveError(.invalidQuery, "unknown query key \"\(key)\"", subject: key)
                }
                guard let attribute = QueryAttribute.byTag[tag], attribute.level.rank <= level.rank else {
                    throw ArchiveError(.invalidQuery,
                        "query key \"\(key)\" is not supported at the \(level.rawValue) level (see CONFORMANCE.md)", subject: key)
                }
                query.matches[tag] = try parseMatch(value, attribute: attribute, key: key)
            }
        }
        return query
    }

    /// A keyword (`PatientName`) or tag (`00100010`) → tag. Sequence paths are not supported.
    static func attributeTag(_ key: String) -> Tag? {
        if let tag = Tag(hex: key) { return tag }
        return Tag(keyword: key)
    }

    static func parseMatch(_ value: String, attribute: QueryAttribute, key: String) throws -> Match {
        if value.isEmpty { return .universal }
        switch attribute.kind {
        case .uid:
            let uids = value.split(whereSeparator: { $0 == "\\" || $0 == "," }).map(String.init)
            for uid in uids where !UID.isValid(uid) {
                throw ArchiveError(.invalidQuery, "\"\(uid)\" in \(key) is not a valid UID", subject: key)
            }
            return uids.count == 1 ? .single(uids[0]) : .list(uids)
        case .date, .time:
            if value.contains("-") {
                let parts = value.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let lower = parts[0].isEmpty ? nil : parts[0]
                let upper = parts[1].isEmpty ? nil : parts[1]
                for bound in [lower, upper].compactMap({ $0 }) where !isValidBound(bound, attribute.kind) {
                    throw ArchiveError(.invalidQuery, "\"\(value)\" is not a valid \(attribute.kind == .date ? "date" : "time") range for \(key)", subject: key)
                }
                guard lower != nil || upper != nil else {
                    throw ArchiveError(.invalidQuery, "\"-\" is not a range for \(key)", subject: key)
                }
                return .range(lower: lower, upper: upper)
            }
            guard isValidBound(value, attribute.kind) else {
                throw ArchiveError(.invalidQuery, "\"\(value)\" is not a valid \(attribute.kind == .date ? "date (YYYYMMDD)" : "time (HHMMSS)") for \(key)", subject: key)
            }
            return .single(value)
        case .integer:
            guard ValueParsing.integerString(value) != nil else {
                throw ArchiveError(.invalidQuery, "\(key) must be an integer, not \"\(value)\"", subject: key)
            }
            return .single(value)
        case .text, .personName, .codeList:
            if value.contains("*") || value.contains("?") { return .wildcard(value) }
            if attribute.kind == .codeList, value.contains("\\") {
                return .list(value.split(separator: "\\").map(String.init))
            }
            return .single(value)
        }
    }

    static func isValidBound(_ value: String, _ kind: QueryAttribute.Kind) -> Bool {
        kind == .date ? DICOMDate(value) != nil : DICOMTime(value) != nil
    }
}

extension QIDOQuery.Level {
    var rank: Int {
        switch self {
        case .study: return 0
        case .series: return 1
        case .instance: return 2
        }
    }
}

/// An attribute the index can match on and return: its column, level and matching kind.
struct QueryAttribute: Sendable {
    enum Kind: Sendable { case uid, date, time, integer, text, personName, codeList }

    let tag: Tag
    let vr: VR
    let level: QIDOQuery.Level
    /// SQL expression of the column (table-qualified).
    let column: String
    let kind: Kind
    /// Fuzzy-key column for PN attributes.
    let fuzzyColumn: String?
    /// Case-folded column for PN attributes (Unicode lower case).
    var foldedColumn: String? {
        switch tag {
        case .patientName: return "study.patientNameFolded"
        case .referringPhysicianName: return "study.referringPhysicianNameFolded"
        default: return nil
        }
    }
    /// Levels at which this attribute is returned by default (PS3.18 Table 10.6.3-3/4/5).
    let levels: Set<QIDOQuery.Level>

    static let all: [QueryAttribute] = [
        // Study level (PS3.18 Table 10.6.3-3)
        .init(tag: .studyDate, vr: .DA, level: .study, column: "study.studyDate", kind: .date, fuzzyColumn: nil, levels: [.study]),
        .init(tag: .studyTime, vr: .TM, level: .study, column: "study.studyTime", kind: .time, fuzzyColumn: nil, levels: [.study]),
        .init(tag: .accessionNumber, vr: .SH, level: .study, column: "study.accessionNumber", kind: .text, fuzzyColumn: nil, levels: [.study]),
        .init(tag: .modalitiesInStudy, vr: .CS, level: .study, column: "study.modalitiesInStudy", kind: .codeList, fuzzyColumn: nil, levels: [.study]),
        .init(tag: .referringPhysicianName, vr: .PN, level: .study, column: "study.referringPhysicianName", kind: .personName,
              fuzzyColumn: "study.referringPhysicianNameFuzzy", levels: [.study]),
        .init(tag: .patientName, vr: .PN, level: .study, column: "study.patientName", kind: .personName,
              fuzzyColumn: "study.patientNameFuzzy", levels: [.study]),
        .init(tag: .patientID, vr: .LO, level: .study, column: "study.patientID", kind: .text, fuzzyColumn: nil, levels: [.study]),
        .init(tag: .patientBirthDate, vr: .DA, level: .study, column: "study.patientBirthDate", kind: .date, fuzzyColumn: nil, levels: [.study]),
        .init(tag: .patientSex, vr: .CS, level: .study, column: "study.patientSex", kind: .text, fuzzyColumn: nil, levels: [.study]),
        .init(tag: .studyInstanceUID, vr: .UI, level: .study, column: "study.studyInstanceUID", kind: .uid, fuzzyColumn: nil, levels: [.study]),
        .init(tag: .studyID, vr: .SH, level: .study, column: "study.studyID", kind: .text, fuzzyColumn: nil, levels: [.study]),
        .init(tag: .studyDescription, vr: .LO, level: .study, column: "study.studyDescription", kind: .text, fuzzyColumn: nil, levels: []),
        // Series level (Table 10.6.3-4)
        .init(tag: .modality, vr: .CS, level: .series, column: "series.modality", kind: .text, fuzzyColumn: nil, levels: [.series]),
        .init(tag: .seriesInstanceUID, vr: .UI, level: .series, column: "series.seriesInstanceUID", kind: .uid, fuzzyColumn: nil, levels: [.series]),
        .init(tag: .seriesNumber, vr: .IS, level: .series, column: "series.seriesNumber", kind: .integer, fuzzyColumn: nil, levels: [.series]),
        .init(tag: .seriesDescription, vr: .LO, level: .series, column: "series.seriesDescription", kind: .text, fuzzyColumn: nil, levels: [.series]),
        .init(tag: .seriesDate, vr: .DA, level: .series, column: "series.seriesDate", kind: .date, fuzzyColumn: nil, levels: []),
        .init(tag: .seriesTime, vr: .TM, level: .series, column: "series.seriesTime", kind: .time, fuzzyColumn: nil, levels: []),
        .init(tag: .bodyPartExamined, vr: .CS, level: .series, column: "series.bodyPartExamined", kind: .text, fuzzyColumn: nil, levels: []),
        .init(tag: .performedProcedureStepStartDate, vr: .DA, level: .series, column: "series.performedProcedureStepStartDate",
              kind: .date, fuzzyColumn: nil, levels: [.series]),
        .init(tag: .performedProcedureStepStartTime, vr: .TM, level: .series, column: "series.performedProcedureStepStartTime",
              kind: .time, fuzzyColumn: nil, levels: [.series]),
        // Instance level (Table 10.6.3-5)
        .init(tag: .sopClassUID, vr: .UI, level: .instance, column: "instance.sopClassUID", kind: .uid, fuzzyColumn: nil, levels: [.instance]),
        .init(tag: .sopInstanceUID, vr: .UI, level: .instance, column: "instance.sopInstanceUID", kind: .uid, fuzzyColumn: nil, levels: [.instance]),
        .init(tag: .instanceNumber, vr: .IS, level: .instance, column: "instance.instanceNumber", kind: .integer, fuzzyColumn: nil, levels: [.instance]),
        .init(tag: .rows, vr: .US, level: .instance, column: "instance.rows", kind: .integer, fuzzyColumn: nil, levels: [.instance]),
        .init(tag: .columns, vr: .US, level: .instance, column: "instance.columns", kind: .integer, fuzzyColumn: nil, levels: [.instance]),
        .init(tag: .bitsAllocated, vr: .US, level: .instance, column: "instance.bitsAllocated", kind: .integer, fuzzyColumn: nil, levels: [.instance]),
        .init(tag: .numberOfFrames, vr: .IS, level: .instance, column: "instance.numberOfFrames", kind: .integer, fuzzyColumn: nil, levels: [.instance]),
    ]

    static let byTag: [Tag: QueryAttribute] = Dictionary(uniqueKeysWithValues: all.map { ($0.tag, $0) })
}
