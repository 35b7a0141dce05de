import DICOM
import Foundation

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

    /// Runs a QIDO query against the index (indexed SQL; no file is read unless includefield
    /// asks for attributes the index does not keep).
    public func search(_ query: QIDOQuery, retrieveURL: (@Sendable (RetrieveKeys) -> String)? = nil) async throws -> QIDOResult {
        let rows = try await index.search(query)
        let builder = QIDOResultBuilder(query)
        let limit = min(query.limit ?? Self.maximumResults, Self.maximumResults)
        let truncated = rows.count > limit || (query.limit.map { $0 > Self.maximumResults } ?? false && rows.count > Self.maximumResults)
        var dataSets: [DataSet] = []
        dataSets.reserveCapacity(min(rows.count, limit))
        let headerOptions = readOptions(.header)
        for row in rows.prefix(limit) {
            dataSets.append(try builder.dataSet(for: row, query: query, retrieveURL: retrieveURL, store: store, headerOptions: headerOptions))
        }
        return QIDOResult(dataSets: dataSets, truncated: truncated)
    }
}

/// Turns index rows into QIDO result datasets.
struct QIDOResultBuilder: Sendable {
    /// Attributes `dataSet(for:)` fills from counts and constants, not from a file.
    static let answeredWithoutFile: Set<Tag> = [
        .numberOfStudyRelatedSeries, .numberOfStudyRelatedInstances, .numberOfSeriesRelatedInstances,
        .sopClassesInStudy, .instanceAvailability, .retrieveURL, .specificCharacterSet,
    ]

    /// Attributes a query at `level` selects (level at or above it).
    static func attributes(at level: QIDOQuery.Level) -> [QueryAttribute] {
        QueryAttribute.all.filter { $0.level.rank <= level.rank }
    }

    let attributes: [QueryAttribute]

    init(_ query: QIDOQuery) {
        attributes = Self.attributes(at: query.level)
    }

    /// The result dataset: the level's default attributes (PS3.18 Table 10.6.3-3/4/5), the
    /// matched keys, included fields, counts, availability and RetrieveURL.
    func dataSet(for row: QIDORow, query: QIDOQuery, retrieveURL: (@Sendable (RetrieveKeys) -> String)?,
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
