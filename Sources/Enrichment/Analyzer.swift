import Archive
import DICOM
import Foundation
import Imaging

/// An analysis MiniVNA runs over stable studies: built in (Swift) or an external service.
/// It reads through `StudyInput` and returns findings; it writes nothing itself (the pipeline
/// turns the result into an SR and FHIR resources and stores them through ingest).
public protocol Analyzer: Sendable {
    var identity: AnalyzerIdentity { get }
    var selector: AnalyzerSelector { get }
    /// Throws `AnalysisFailure` for the outcomes the audit distinguishes; anything else is a
    /// failure that is retried.
    func analyze(_ input: StudyInput) async throws -> AnalysisResult
}

/// Why an analysis produced no result.
public enum AnalysisFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing to analyse (no series of the kind, headers without the values): a `skipped` run.
    case notApplicable(String)
    /// The method failed and trying again will not help (a bad answer, an invalid SR).
    case permanent(String)
    /// The method may succeed later (a service down, a timeout): retried with backoff.
    case transient(String)
    /// No answer within the time allowed: retried, then recorded as `timed-out`.
    case timedOut(String)
    /// Not attempted now (a service's circuit is open): queued again for `until` (seconds since
    /// 1970) without using an attempt or recording a run.
    case deferred(until: Double, String)

    public var description: String {
        switch self {
        case .notApplicable(let reason), .permanent(let reason), .transient(let reason), .timedOut(let reason), .deferred(_, let reason): reason
        }
    }
}

/// Which series of a stable study an analyzer wants; a study with none is skipped for it.
public struct AnalyzerSelector: Sendable, Hashable, Codable {
    /// Any of these modalities (nil: any).
    public var modalities: Set<String>?
    /// Any of these Body Part Examined values, compared case-insensitively (nil: any).
    public var bodyParts: Set<String>?
    /// Any of these SOP classes among the series' instances (nil: any image, i.e. not SR, KO,
    /// PR, SEG or another non-image class).
    public var sopClasses: Set<String>?
    /// A regular expression the Series Description must contain a match of (nil: any).
    public var seriesDescriptionPattern: String?
    public var minimumInstances: Int

    public init(modalities: Set<String>? = nil, bodyParts: Set<String>? = nil, sopClasses: Set<String>? = nil,
                seriesDescriptionPattern: String? = nil, minimumInstances: Int = 1) {
        self.modalities = modalities
        self.bodyParts = bodyParts
        self.sopClasses = sopClasses
        self.seriesDescriptionPattern = seriesDescriptionPattern
        self.minimumInstances = minimumInstances
    }

    /// Modalities whose instances are documents or annotations, not images.
    static let nonImageModalities: Set<String> = ["SR", "KO", "PR", "SEG", "REG", "RTSTRUCT", "RTPLAN", "DOC", "PLAN", "FID"]

    public func matches(_ series: SeriesSummary) -> Bool {
        guard series.numberOfInstances >= minimumInstances else { return false }
        if let modalities, !modalities.contains(series.modality.uppercased()) { return false }
        if let bodyParts, !bodyParts.contains(where: { $0.caseInsensitiveCompare(series.bodyPartExamined) == .orderedSame }) {
            return false
        }
        if let sopClasses {
            guard series.instances.contains(where: { sopClasses.contains($0.sopClassUID) }) else { return false }
        } else if Self.nonImageModalities.contains(series.modality.uppercased()) {
            return false
        }
        if let pattern = seriesDescriptionPattern {
            guard let expression = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) else { return false }
            let text = series.seriesDescription
            guard expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil else { return false }
        }
        return true
    }
}

/// What an analyzer sees of one stable study: the summary, the series its selector chose (the
/// archive's own results left out), and reads through the archive.
public struct StudyInput: Sendable {
    public let study: StudySummary
    public let series: [SeriesSummary]
    /// Every series of the study but the archive's own results (for study-wide checks).
    public let allSeries: [SeriesSummary]
    public let job: AnalysisJob
    /// Where an external service fetches pixels (`http://host:port/dicom-web`).
    public let dicomWebBaseURL: String?
    /// Where an external service answers a 202 later.
    public let callbackURL: String?
    let archive: Archive

    public init(study: StudySummary, series: [SeriesSummary], allSeries: [SeriesSummary], job: AnalysisJob, archive: Archive,
                dicomWebBaseURL: String? = nil, callbackURL: String? = nil) {
        self.study = study
        self.series = series
        self.allSeries = allSeries
        self.job = job
        self.archive = archive
        self.dicomWebBaseURL = dicomWebBaseURL
        self.callbackURL = callbackURL
    }

    /// The stored files of a series, in instance-number order.
    public func files(of series: SeriesSummary) async throws -> [StoredInstanceFile] {
        let files = try await archive.storedFiles(InstanceSelector(study: study.studyInstanceUID, series: series.seriesInstanceUID))
        let order = Dictionary(series.instances.enumerated().map { ($1.sopInstanceUID, $0) }, uniquingKeysWith: { a, _ in a })
        return files.sorted { (order[$0.sopInstanceUID] ?? .max) < (order[$1.sopInstanceUID] ?? .max) }
    }

    /// The header of an instance (everything before Pixel Data).
    public func header(_ file: StoredInstanceFile) throws -> DataSet {
        try Part10Reader.read(path: file.path, options: archive.readOptions(.header)).dataSet
    }

    /// An instance opened for its pixels.
    public func pixels(_ file: StoredInstanceFile) throws -> InstancePixels {
        try InstancePixels(path: file.path, options: archive.readOptions(.pixels))
    }

    public func reference(_ file: StoredInstanceFile, frames: [Int]? = nil) -> ImageReference {
        ImageReference(seriesInstanceUID: file.seriesInstanceUID, sopInstanceUID: file.sopInstanceUID,
                       sopClassUID: file.sopClassUID, frames: frames)
    }
}
