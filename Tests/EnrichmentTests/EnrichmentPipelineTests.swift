@testable import Archive
import DICOM
@testable import Enrichment
import Foundation
import Testing
import TestSupport

/// The pipeline over a real archive: jobs, runs, results written back, replays, retries,
/// supersede by a later stable generation.
@Suite struct EnrichmentPipelineTests {
    @Test func theBuiltInsWriteValidReportsAndFHIRResourcesForACT() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let pipeline = makePipeline(t.archive, [ImageQualityAnalyzer(), DoseAnalyzer(), DataQualityAnalyzer()])
        let requests = try await pipeline.enqueue(study: study, trigger: .request)
        #expect(requests.count == 3)
        let jobs = try await runUntilFinished(pipeline, study: study)
        #expect(jobs.map(\.status) == [.succeeded, .succeeded, .succeeded])
        for job in jobs {
            let outputs = try #require(job.outputs)
            let srUID = try #require(outputs.srSOPInstanceUID)
            let sr = try #require(try t.archive.storedInstance(sopInstanceUID: srUID))
            #expect(sr.studyInstanceUID == study)
            let file = try await t.archive.storedFiles(InstanceSelector(study: study, series: sr.seriesInstanceUID, instance: srUID))[0]
            let dataSet = try Part10Reader.read(path: file.path, options: t.archive.readOptions(.header)).dataSet
            #expect(MeasurementReportValidator().validate(dataSet) == [])
            #expect(dataSet.string(Tag.seriesDescription) == "AI: \(job.analyzer) \(job.analyzerVersion)")
            for id in outputs.observationIDs { #expect(try await t.archive.observation(id: id) != nil) }
            let reportID = try #require(outputs.diagnosticReportID), deviceID = try #require(outputs.deviceID)
            #expect(try await t.archive.storedResource(type: "DiagnosticReport", id: reportID) != nil)
            #expect(try await t.archive.storedResource(type: "Device", id: deviceID) != nil)
        }
        let (total, runs) = try await t.archive.analysisRuns(AnalysisRunFilter(), limit: 10, offset: 0)
        #expect(total == 3 && runs.allSatisfy { $0.status == .succeeded && $0.trigger == .request })
        // The archive's own results are never analysed: the SR series are left out.
        let analysable = try await pipeline.analysableSeries(study: study)
        #expect(analysable.map(\.modality) == ["CT"])
    }

    @Test func theImageQualityFiguresAreInHounsfieldUnits() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let pipeline = makePipeline(t.archive, [ImageQualityAnalyzer()])
        try await pipeline.enqueue(study: study, trigger: .request)
        let job = try #require(try await runUntilFinished(pipeline, study: study).first)
        let input = StudyInput(study: try await summary(t.archive, study), series: try await t.archive.seriesSummaries(studyInstanceUID: study),
                               allSeries: [], job: job, archive: t.archive)
        let result = try await ImageQualityAnalyzer().analyze(input)
        let statistics = result.groups[0].measurements
        #expect(statistics.allSatisfy { $0.unit.code == "[hnsf'U]" || $0.unit.code == "%" || $0.unit.code == "{frames}" })
        let minimum = try #require(statistics.first { $0.concept.code == "255605001" }?.value)
        let maximum = try #require(statistics.first { $0.concept.code == "56851009" }?.value)
        let mean = try #require(statistics.first { $0.concept.code == "373098007" }?.value)
        #expect(minimum < mean && mean < maximum)
        #expect(minimum >= -3_100 && maximum <= 4_000)
    }

    @Test func aReplayRewritesTheSameObjectsInsteadOfAddingCopies() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let pipeline = makePipeline(t.archive, [ScriptedAnalyzer { _, input in try await ScriptedAnalyzer.oneFinding(input) }])
        try await pipeline.enqueue(study: study, trigger: .request)
        let job = try #require(try await runUntilFinished(pipeline, study: study).first)
        let instances = try t.archive.counts().instances
        let observations = try await t.archive.searchObservations(ObservationFilter(), limit: 100, offset: 0).total
        // What a worker does after a crash that left the job running: the same attempt again.
        let replayed = try await pipeline.attempt(job)
        #expect(replayed == job.outputs)
        #expect(try t.archive.counts().instances == instances)
        #expect(try await t.archive.searchObservations(ObservationFilter(), limit: 100, offset: 0).total == observations)
        #expect(observations == 3)   // the group and its two items
    }

    @Test func transientFailuresAreRetriedWithBackoffThenRecordedAndCanBeAskedAgain() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let analyzer = ScriptedAnalyzer { attempt, _ in throw AnalysisFailure.transient("service down (\(attempt))") }
        let pipeline = makePipeline(t.archive, [analyzer], attempts: 3)
        try await pipeline.enqueue(study: study, trigger: .request)
        let job = try #require(try await runUntilFinished(pipeline, study: study).first)
        #expect(job.status == .failed && job.attempts == 3)
        #expect(job.lastError?.contains("service down (3)") == true)
        let runs = try await t.archive.analysisRuns(AnalysisRunFilter(), limit: 10, offset: 0).runs
        #expect(runs.map(\.status) == [.failed, .failed, .failed])
        #expect(runs.map(\.attempt).sorted() == [1, 2, 3])
        // Asking again re-opens the same job (its key stays unique).
        try await pipeline.enqueue(study: study, trigger: .request)
        #expect(try await t.archive.analysisJob(id: job.id)?.status == .queued)
    }

    @Test func nothingToAnalyseIsASkippedRunWithItsReason() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let pipeline = makePipeline(t.archive, [ScriptedAnalyzer { _, _ in throw AnalysisFailure.notApplicable("no lungs in view") }])
        try await pipeline.enqueue(study: study, trigger: .request)
        let job = try #require(try await runUntilFinished(pipeline, study: study).first)
        #expect(job.status == .skipped)
        let run = try #require(try await t.archive.analysisRuns(AnalysisRunFilter(), limit: 1, offset: 0).runs.first)
        #expect(run.status == .skipped && run.reason == "no lungs in view")
    }

    @Test func anAttemptPastItsTimeLimitIsTimedOut() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let slow = ScriptedAnalyzer { _, input in
            try await Task.sleep(for: .seconds(20))
            return try await ScriptedAnalyzer.oneFinding(input)
        }
        let pipeline = EnrichmentPipeline(archive: t.archive, configuration: .init(
            analyzers: [slow], maximumAttempts: 1, attemptTimeout: .milliseconds(200), pollInterval: .milliseconds(50)), logger: .init(label: "test"))
        try await pipeline.enqueue(study: study, trigger: .request)
        let job = try #require(try await runUntilFinished(pipeline, study: study).first)
        #expect(job.status == .failed)
        #expect(try await t.archive.analysisRuns(AnalysisRunFilter(), limit: 1, offset: 0).runs.first?.status == .timedOut)
    }

    @Test func aReportThatFailsValidationIsNotStoredAndTheRunSaysWhy() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let retired = ScriptedAnalyzer { _, input in
            var result = try await ScriptedAnalyzer.oneFinding(input)
            result.groups[0].finding = CodedConcept(scheme: "SRT", code: "M-01000", meaning: "Lesion")
            return result
        }
        let pipeline = makePipeline(t.archive, [retired])
        try await pipeline.enqueue(study: study, trigger: .request)
        let instances = try t.archive.counts().instances
        let job = try #require(try await runUntilFinished(pipeline, study: study).first)
        #expect(job.status == .failed)
        #expect(job.lastError?.contains("retired designator SRT") == true)
        #expect(try t.archive.counts().instances == instances)
    }

    @Test func aLaterStableGenerationSupersedesTheEarlierResult() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let pipeline = makePipeline(t.archive, [ScriptedAnalyzer { _, input in try await ScriptedAnalyzer.oneFinding(input) }])
        try await pipeline.enqueue(study: study, generation: 1, trigger: .studyStable)
        let first = try #require(try await runUntilFinished(pipeline, study: study).first?.outputs)
        try await pipeline.enqueue(study: study, generation: 2, trigger: .studyStable)
        let jobs = try await runUntilFinished(pipeline, study: study)
        let second = try #require(jobs.first { $0.generation == 2 }?.outputs)
        #expect(second.srSOPInstanceUID != first.srSOPInstanceUID)
        #expect(second.srSeriesInstanceUID == first.srSeriesInstanceUID)   // one series per analyzer version
        let secondSR = try #require(second.srSOPInstanceUID)
        let file = try await t.archive.storedFiles(InstanceSelector(study: study, series: second.srSeriesInstanceUID, instance: secondSR))[0]
        let header = try Part10Reader.read(path: file.path, options: t.archive.readOptions(.header)).dataSet
        let predecessor = header[.predecessorDocumentsSequence]?.items?.first?[.referencedSeriesSequence]?.items?.first?[.referencedSOPSequence]?
            .items?.first?.string(.referencedSOPInstanceUID)
        #expect(predecessor == first.srSOPInstanceUID)
        for id in first.observationIDs {
            let record = try #require(try await t.archive.observation(id: id))
            #expect(record.json.contains("\"superseded\""))
        }
        for id in second.observationIDs {
            let record = try #require(try await t.archive.observation(id: id))
            #expect(record.json.contains("superseded") == false)
        }
        let firstReport = try #require(first.diagnosticReportID)
        let report = try #require(try await t.archive.storedResource(type: "DiagnosticReport", id: firstReport))
        #expect(report.json.contains("\"superseded\""))
    }

    @Test func aStaleStableGenerationIsSkipped() async throws {
        let t = try TemporaryArchive(quietPeriod: .milliseconds(1))
        let study = try await storeFixtureCT(t.archive)
        let pipeline = makePipeline(t.archive, [ScriptedAnalyzer { _, input in try await ScriptedAnalyzer.oneFinding(input) }])
        // Two stable generations recorded before the pipeline got to the first.
        try await pipeline.enqueue(study: study, generation: 1, trigger: .studyStable)
        try t.archive.events.relay()
        _ = try t.archive.primary.markStable(quietBefore: Date().timeIntervalSince1970 + 1, now: Date().timeIntervalSince1970)
        _ = try await t.archive.ingest(bytes: try Fixture.instance(study: study, series: "2.25.77", sop: "2.25.78", modality: "CT"))
        try t.archive.events.relay()
        _ = try t.archive.primary.markStable(quietBefore: Date().timeIntervalSince1970 + 1, now: Date().timeIntervalSince1970)
        #expect(try await t.archive.stableGeneration(studyInstanceUID: study) == 2)
        let job = try #require(try await runUntilFinished(pipeline, study: study).first { $0.generation == 1 })
        #expect(job.status == .skipped)
        #expect(job.lastError?.contains("generation 2") == true)
    }

    @Test func onlyAnalyzersWhoseSelectorMatchesGetAJob() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        struct MROnly: Analyzer {
            let identity = AnalyzerIdentity(name: "mr-only", version: "1", manufacturer: "Tests", description: "")
            let selector = AnalyzerSelector(modalities: ["MR"])
            func analyze(_ input: StudyInput) async throws -> AnalysisResult { AnalysisResult(groups: []) }
        }
        let pipeline = makePipeline(t.archive, [MROnly(), ScriptedAnalyzer { _, input in try await ScriptedAnalyzer.oneFinding(input) }])
        let requests = try await pipeline.enqueue(study: study, generation: 1, trigger: .studyStable)
        #expect(requests.map(\.analyzer) == ["scripted"])
        // The same event handed again (at least once) adds nothing.
        try await pipeline.enqueue(study: study, generation: 1, trigger: .studyStable)
        #expect(try await t.archive.analysisJobs(studyInstanceUID: study).count == 1)
    }

    @Test func jobsLeftRunningByAKilledProcessAreQueuedAgain() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let pipeline = makePipeline(t.archive, [ScriptedAnalyzer { _, input in try await ScriptedAnalyzer.oneFinding(input) }])
        try await pipeline.enqueue(study: study, trigger: .request)
        let claimed = try await t.archive.claimAnalysisJobs(limit: 5)
        #expect(claimed.count == 1 && claimed[0].status == .running)
        #expect(try await t.archive.claimAnalysisJobs(limit: 5).isEmpty)   // claimed once
        #expect(try await t.archive.requeueInterruptedAnalyses().requeued == 1)
        let jobs = try await runUntilFinished(pipeline, study: study)
        #expect(jobs.map(\.status) == [.succeeded])
    }

    @Test func aJobThatEndsTheProcessEveryTimeStopsAfterItsAttempts() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let pipeline = makePipeline(t.archive, [ScriptedAnalyzer { _, input in try await ScriptedAnalyzer.oneFinding(input) }], attempts: 2)
        try await pipeline.enqueue(study: study, trigger: .request)
        for _ in 0..<2 {   // two starts, each killed during the attempt
            #expect(try await t.archive.claimAnalysisJobs(limit: 1).count == 1)
            _ = try await t.archive.requeueInterruptedAnalyses(maximumAttempts: 2)
        }
        let job = try #require(try await t.archive.analysisJobs(studyInstanceUID: study).first)
        #expect(job.status == .failed && job.lastError?.contains("process stopped") == true)
        #expect(try await t.archive.analysisRuns(AnalysisRunFilter(), limit: 5, offset: 0).runs.map(\.status) == [.failed])
    }

    @Test func aDeferredAttemptUsesNoAttemptAndRecordsNoRun() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let pipeline = makePipeline(t.archive, [ScriptedAnalyzer { _, _ in
            throw AnalysisFailure.deferred(until: Date().timeIntervalSince1970 + 3_600, "circuit open")
        }])
        try await pipeline.enqueue(study: study, trigger: .request)
        let claimed = try #require(try await t.archive.claimAnalysisJobs(limit: 1).first)
        await pipeline.process(claimed)
        let job = try #require(try await t.archive.analysisJob(id: claimed.id))
        #expect(job.status == .queued && job.attempts == 0 && job.notBefore > Date().timeIntervalSince1970 + 3_000)
        #expect(try await t.archive.analysisRuns(AnalysisRunFilter(), limit: 5, offset: 0).total == 0)
    }

    @Test func aRetryInACancelledBatchIsCancelledAndItsJobsAreNotClaimed() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let pipeline = makePipeline(t.archive, [ScriptedAnalyzer { _, _ in throw AnalysisFailure.transient("down") }])
        try await pipeline.enqueue(study: study, trigger: .batch, batch: ("b1", "test"))
        let claimed = try #require(try await t.archive.claimAnalysisJobs(limit: 1).first)
        #expect(try await t.archive.cancelAnalysisBatch(id: "b1"))
        await pipeline.process(claimed)   // fails transiently: would be queued again
        #expect(try await t.archive.analysisJob(id: claimed.id)?.status == .cancelled)
        try await pipeline.enqueue(study: study, trigger: .request)   // re-opened, but under the cancelled batch
        #expect(try await t.archive.claimAnalysisJobs(limit: 1).isEmpty)
    }

    @Test func repeatedTrackingIdentifiersAreMadeUnique() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let twice = ScriptedAnalyzer { _, input in
            var result = try await ScriptedAnalyzer.oneFinding(input)
            result.groups.append(result.groups[0])
            return result
        }
        let pipeline = makePipeline(t.archive, [twice])
        try await pipeline.enqueue(study: study, trigger: .request)
        let outputs = try #require(try await runUntilFinished(pipeline, study: study).first?.outputs)
        #expect(Set(outputs.observationIDs).count == 6)
    }

    @Test func aResultFinishedAfterTheStudyChangedIsNotStored() async throws {
        let t = try TemporaryArchive(quietPeriod: .milliseconds(1))
        let study = try await storeFixtureCT(t.archive)
        let archive = t.archive
        // The study becomes stable again (generation 2) while the generation-1 analysis runs.
        let racing = ScriptedAnalyzer { _, input in
            try archive.events.relay()
            _ = try archive.primary.markStable(quietBefore: Date().timeIntervalSince1970 + 1, now: Date().timeIntervalSince1970)
            _ = try await archive.ingest(bytes: try Fixture.instance(study: input.study.studyInstanceUID, series: "2.25.88", sop: "2.25.89"))
            try archive.events.relay()
            _ = try archive.primary.markStable(quietBefore: Date().timeIntervalSince1970 + 1, now: Date().timeIntervalSince1970)
            return try await ScriptedAnalyzer.oneFinding(input)
        }
        let pipeline = makePipeline(t.archive, [racing])
        try await pipeline.enqueue(study: study, generation: 1, trigger: .request)
        let job = try #require(try await runUntilFinished(pipeline, study: study).first)
        #expect(job.status == .skipped && job.lastError?.contains("changed during the analysis") == true)
        #expect(try await t.archive.searchObservations(ObservationFilter(), limit: 10, offset: 0).total == 0)
    }

    @Test func aDifferentAnswerOnReplayReplacesTheJobsOwnObjects() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let drifting = ScriptedAnalyzer { attempt, input in
            var result = try await ScriptedAnalyzer.oneFinding(input)
            result.groups[0].measurements[0].value = 10 + Double(attempt)
            return result
        }
        let pipeline = makePipeline(t.archive, [drifting])
        try await pipeline.enqueue(study: study, trigger: .request)
        let job = try #require(try await runUntilFinished(pipeline, study: study).first)
        let replayed = try await pipeline.attempt(job)
        #expect(replayed.srSOPInstanceUID == job.outputs?.srSOPInstanceUID)
        let measurement = try #require(replayed.observationIDs.dropFirst().first)
        let record = try #require(try await t.archive.observation(id: measurement))
        #expect(record.versionId == 2 && record.json.contains("\"value\":12"))
    }

    func summary(_ archive: Archive, _ study: String) async throws -> StudySummary {
        var filter = StudyFilter()
        filter.studyInstanceUIDs = [study]
        return try #require(try await archive.studySummaries(filter, limit: 1, offset: 0).studies.first)
    }
}
