@testable import Archive
import DICOM
@testable import Enrichment
import Foundation
import Logging
import TestSupport

/// The committed five-slice CT (Fixtures/ct), stored; returns its Study Instance UID.
func storeFixtureCT(_ archive: Archive) async throws -> String {
    var study = ""
    for index in 1...5 {
        study = try await archive.ingest(bytes: try Fixture.bytes("ct/ct_000\(index).dcm")).studyInstanceUID
    }
    return study
}

func makePipeline(_ archive: Archive, _ analyzers: [any Analyzer], attempts: Int = 3) -> EnrichmentPipeline {
    EnrichmentPipeline(archive: archive, configuration: .init(analyzers: analyzers, concurrency: 2, maximumAttempts: attempts,
                                                              retryBase: 0.01, retryCap: 0.05, attemptTimeout: .seconds(30),
                                                              pollInterval: .milliseconds(50)),
                       logger: Logger(label: "test"))
}

/// Runs the pipeline until every job of the study is finished (or 30 s pass).
func runUntilFinished(_ pipeline: EnrichmentPipeline, study: String) async throws -> [AnalysisJob] {
    let task = Task { try await pipeline.run() }
    defer { task.cancel() }
    // A deadline against hangs, generous for a loaded machine (the whole suite runs at once).
    let deadline = Date().addingTimeInterval(180)
    while Date() < deadline {
        let jobs = try await pipeline.archive.analysisJobs(studyInstanceUID: study)
        if !jobs.isEmpty, jobs.allSatisfy({ !$0.status.isOpen }) { return jobs }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await pipeline.archive.analysisJobs(studyInstanceUID: study)
}

/// An analyzer whose outcome per attempt the test scripts.
struct ScriptedAnalyzer: Analyzer {
    let identity: AnalyzerIdentity
    let selector = AnalyzerSelector(modalities: ["CT"])
    let attempts = Counter()
    let outcome: @Sendable (_ attempt: Int, _ input: StudyInput) async throws -> AnalysisResult

    init(name: String = "scripted", version: String = "1", outcome: @escaping @Sendable (Int, StudyInput) async throws -> AnalysisResult) {
        identity = AnalyzerIdentity(name: name, version: version, manufacturer: "Tests", description: "scripted")
        self.outcome = outcome
    }

    func analyze(_ input: StudyInput) async throws -> AnalysisResult {
        try await outcome(await attempts.next(), input)
    }

    /// One group measuring 1 mm on the first slice.
    static func oneFinding(_ input: StudyInput) async throws -> AnalysisResult {
        let file = try await input.files(of: input.series[0])[0]
        return AnalysisResult(groups: [MeasurementGroup(
            trackingIdentifier: "Lesion 1", finding: .sct("52988006", "Lesion"), findingSite: .sct("10200004", "Liver"),
            references: [input.reference(file)],
            measurements: [Measurement(concept: .sct("410668003", "Length"), value: 12.5, unit: .ucum("mm", "millimeter"))],
            qualitative: [QualitativeEvaluation(concept: .dcm("111101", "Image Quality"), value: .sct("52101004", "Present"))],
            priority: .urgent, confidence: 0.8)])
    }
}

actor Counter {
    private var value = 0
    func next() -> Int {
        value += 1
        return value
    }
    var count: Int { value }
}

/// What an analyzer sees of a stored study, for a job claimed from the queue.
func studyInput(_ archive: Archive, study: String, dicomWebBaseURL: String? = nil, callbackURL: String? = nil) async throws -> StudyInput {
    let pipeline = makePipeline(archive, [])
    var filter = StudyFilter()
    filter.studyInstanceUIDs = [study]
    guard let summary = try await archive.studySummaries(filter, limit: 1, offset: 0).studies.first else {
        throw AnalysisFailure.notApplicable("no study \(study)")
    }
    let series = try await pipeline.analysableSeries(study: study)
    try await archive.enqueueAnalyses([AnalysisJobRequest(studyInstanceUID: study, generation: 1, analyzer: "test", analyzerVersion: "1",
                                                          trigger: .request)])
    guard let job = try await archive.claimAnalysisJobs(limit: 1).first else { throw AnalysisFailure.notApplicable("no job") }
    return StudyInput(study: summary, series: series, allSeries: series, job: job, archive: archive,
                      dicomWebBaseURL: dicomWebBaseURL, callbackURL: callbackURL ?? "http://127.0.0.1:1/ai/callbacks/\(job.id)")
}

/// Elements to add to `Fixture.instance`: text values by tag and VR, and FD numbers.
func elements(_ texts: [(Tag, VR, String)], doubles: [(Tag, Double)] = []) -> [DataElement] {
    var dataSet = DataSet()
    for (tag, vr, text) in texts { dataSet.setString(tag, vr: vr, text) }
    for (tag, value) in doubles {
        dataSet.set(DataElement(tag: tag, vr: .FD, bytes: withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }))
    }
    return Array(dataSet)
}
