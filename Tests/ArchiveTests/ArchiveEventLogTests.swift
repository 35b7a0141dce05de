@testable import Archive
import DICOM
import Foundation
import GRDB
import Testing
import TestSupport

/// The transactional outbox, the durable event log, consumers' cursors and study stability.
@Suite struct ArchiveEventLogTests {
    /// Every event in the log, after relaying what the outbox holds.
    func logged(_ archive: Archive) throws -> [ArchiveEvent] {
        try archive.events.relay()
        return try archive.events.events(after: 0)
    }

    @Test func aStoredInstanceIsLoggedOnceWithItsContext() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"), context: IngestContext(origin: .stow, principal: "alice"))
        let events = try logged(t.archive)
        #expect(events.count == 1)
        #expect(events.first?.kind == .instanceStored)
        #expect(events.first?.sopInstanceUID == "2.25.1")
        #expect(events.first?.seriesInstanceUID == "2.25.200")
        #expect(events.first?.studyInstanceUID == "2.25.100")
        #expect(events.first?.origin == .stow)
        #expect(events.first?.principal == "alice")
    }

    @Test func anIdenticalResendPublishesNoEvent() async throws {
        let t = try TemporaryArchive()
        let bytes = try Fixture.instance(sop: "2.25.1")
        _ = try await t.archive.ingest(bytes: bytes)
        #expect(try await t.archive.ingest(bytes: bytes).outcome == .alreadyStored)
        #expect(try logged(t.archive).map(\.kind) == [.instanceStored])
    }

    @Test func aRejectedInstanceInABatchLeavesNoEventAndTheOthersKeepTheirs() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        let staged = try [Fixture.instance(sop: "2.25.1", description: "other content"), Fixture.instance(sop: "2.25.2")]
            .map { try t.archive.store.writeTemporary($0) }
        let results = await t.archive.ingest(stagedFiles: staged)
        #expect((try? results[0].get()) == nil)
        #expect(try results[1].get().outcome == .stored)
        #expect(try logged(t.archive).compactMap(\.sopInstanceUID) == ["2.25.1", "2.25.2"])
    }

    @Test func aReplacementIsLoggedAsOne() async throws {
        let t = try TemporaryArchive(policy: .replace)
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1", description: "corrected"))
        #expect(try logged(t.archive).map(\.kind) == [.instanceStored, .instanceReplaced])
    }

    @Test func aDeleteIsLoggedIfAndOnlyIfItCommitted() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.200", sop: "2.25.1"))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.201", sop: "2.25.2"))
        // A delete whose transaction fails (a trigger aborts it) leaves rows and log as they were.
        try await t.archive.sqliteIndex.pool.write { db in
            try db.execute(sql: "CREATE TRIGGER refuseDeletes BEFORE DELETE ON instance BEGIN SELECT RAISE(ABORT, 'injected'); END")
        }
        await #expect(throws: (any Error).self) { try await t.archive.delete(InstanceSelector(study: "2.25.100", series: "2.25.200")) }
        #expect(try t.archive.index.counts() == (1, 2, 2))
        #expect(try logged(t.archive).filter { $0.kind == .deleted }.isEmpty)
        try await t.archive.sqliteIndex.pool.write { db in try db.execute(sql: "DROP TRIGGER refuseDeletes") }

        try await t.archive.delete(InstanceSelector(study: "2.25.100", series: "2.25.200"), principal: "admin")
        let deletes = try logged(t.archive).filter { $0.kind == .deleted }
        #expect(deletes.count == 1)
        #expect(deletes.first?.seriesInstanceUID == "2.25.200")
        #expect(deletes.first?.sopInstanceUID == nil)
        #expect(deletes.first?.principal == "admin")
    }

    @Test func anInstanceWhoseEventCannotBeWrittenLeavesNoFileBehind() async throws {
        let t = try TemporaryArchive()
        try await t.archive.sqliteIndex.pool.write { db in
            try db.execute(sql: "CREATE TRIGGER refuseEvents BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'injected'); END")
        }
        await #expect(throws: ArchiveError.self) { try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1")) }
        #expect(try t.archive.counts() == (0, 0, 0))
        #expect(t.archive.store.allRelativePaths().isEmpty)   // the file never got its final name
        #expect(try t.archive.verify().isClean)
    }

    @Test func deletingAStudysLastSeriesLogsTheStudyAsDeletedAndItNeverBecomesStable() async throws {
        let t = try TemporaryArchive(quietPeriod: .milliseconds(100))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.200", sop: "2.25.1"))
        try await t.archive.delete(InstanceSelector(study: "2.25.100", series: "2.25.200"))
        let deleted = try #require(try logged(t.archive).last)
        #expect(deleted.kind == .deleted && deleted.seriesInstanceUID == nil && deleted.sopInstanceUID == nil)
        try await Task.sleep(for: .milliseconds(200))
        let now = Date().timeIntervalSince1970
        #expect(try t.archive.primary.markStable(quietBefore: now, now: now).studies.isEmpty)
    }

    @Test func anEventRelayedAgainDoesNotMakeItsStudyWaitAgain() async throws {
        let t = try TemporaryArchive(quietPeriod: .milliseconds(100))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        try t.archive.events.relay()
        try await Task.sleep(for: .milliseconds(150))
        var now = Date().timeIntervalSince1970
        #expect(try t.archive.primary.markStable(quietBefore: now - 0.1, now: now).studies == ["2.25.100"])
        // The same outbox rows again (a second relay of one generation): skipped, effects included.
        let again = try t.archive.index.outboxEvents(after: 0, limit: 10)
        #expect(again.count == 1)
        _ = try t.archive.primary.appendRelayed(again, generation: t.archive.events.generation)
        now = Date().timeIntervalSince1970
        #expect(try t.archive.primary.markStable(quietBefore: now, now: now).studies.isEmpty)
        #expect(try t.archive.events.events(after: 0).filter { $0.kind == .instanceStored }.count == 1)
    }

    @Test func anIndexWhoseOutboxNumberingWentBackGetsANewGenerationAndLosesNoEvent() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = ArchiveConfiguration(dataDirectory: directory)
        let firstGeneration: String
        do {
            let archive = try Archive(configuration: configuration)
            for sop in ["2.25.1", "2.25.2", "2.25.3"] { _ = try await archive.ingest(bytes: try Fixture.instance(sop: sop)) }
            try archive.events.relay()
            firstGeneration = archive.events.generation
            // As if index.sqlite were restored from a copy taken before those events.
            try await archive.sqliteIndex.pool.write { db in
                try db.execute(sql: "DELETE FROM outbox; UPDATE sqlite_sequence SET seq = 0 WHERE name = 'outbox'")
            }
            try archive.close()
        }
        let archive = try Archive(configuration: configuration)
        #expect(archive.events.generation != firstGeneration)
        _ = try await archive.ingest(bytes: try Fixture.instance(sop: "2.25.4"))
        #expect(try logged(archive).compactMap(\.sopInstanceUID) == ["2.25.1", "2.25.2", "2.25.3", "2.25.4"])
        try archive.close()
    }

    @Test func relayingTwiceLogsEachEventOnceAndTheNextIngestPrunesTheOutbox() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        try t.archive.events.relay()
        try t.archive.events.relay()
        #expect(try t.archive.events.events(after: 0).count == 1)
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.2"))
        let outbox = try await t.archive.sqliteIndex.pool.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM outbox") }
        #expect(outbox.count == 1)   // the relayed first event is gone, the second waits
        #expect(try logged(t.archive).count == 2)
    }

    @Test(.timeLimit(.minutes(5))) func consumersResumeFromTheirDurableCursor() async throws {
        let t = try TemporaryArchive()
        for sop in ["2.25.1", "2.25.2"] { _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: sop)) }
        try t.archive.events.relay()
        let firstRun = try await handled(by: "ai", in: t.archive, count: 2)
        #expect(firstRun == ["2.25.1", "2.25.2"])
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.3"))
        try t.archive.events.relay()
        #expect(try await handled(by: "ai", in: t.archive, count: 1) == ["2.25.3"])
        #expect(try await handled(by: "webhooks", in: t.archive, count: 3) == ["2.25.1", "2.25.2", "2.25.3"])
    }

    /// Runs a consumer until it has handled `count` events; returns their SOP Instance UIDs.
    func handled(by consumer: String, in archive: Archive, count: Int) async throws -> [String] {
        let seen = Seen()
        let task = Task {
            try await archive.events.consume(as: consumer) { event in
                await seen.add(event.sopInstanceUID ?? "")
            }
        }
        while await seen.values.count < count { try await Task.sleep(for: .milliseconds(10)) }
        task.cancel()
        _ = try? await task.value
        return await seen.values
    }

    actor Seen {
        var values: [String] = []
        func add(_ value: String) { values.append(value) }
    }

    /// Waits until the log holds `count` study.stable events (or a second passes beyond `within`).
    func stableEvents(_ archive: Archive, count: Int, within seconds: Double) async throws -> [ArchiveEvent] {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let stable = try logged(archive).filter { $0.kind == .studyStable }
            if stable.count >= count || Date() > deadline { return stable }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test(.timeLimit(.minutes(5))) func aStudyBecomesStableOnceAfterItsQuietPeriod() async throws {
        let t = try TemporaryArchive(quietPeriod: .milliseconds(300))
        let monitor = Task { try await t.archive.monitorStudyStability() }
        defer { monitor.cancel() }
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        let stored = try #require(try logged(t.archive).first)
        let stable = try await stableEvents(t.archive, count: 1, within: 25)
        #expect(stable.count == 1)
        #expect(stable.first?.studyInstanceUID == "2.25.100")
        #expect(stable.first!.occurredAt.timeIntervalSince(stored.occurredAt) >= 0.3)
        try await Task.sleep(for: .milliseconds(700))
        #expect(try logged(t.archive).filter { $0.kind == .studyStable }.count == 1)
    }

    /// The quiet period counts from the study's last instance. A loaded machine (suites run in
    /// parallel) can delay the second instance past the first quiet period; then the study was
    /// rightly stable in between and becomes stable again, so both orders are accepted.
    @Test(.timeLimit(.minutes(5))) func eachNewInstanceRestartsTheQuietPeriod() async throws {
        let t = try TemporaryArchive(quietPeriod: .seconds(1))
        let monitor = Task { try await t.archive.monitorStudyStability() }
        defer { monitor.cancel() }
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        try await Task.sleep(for: .milliseconds(300))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.2"))
        let events = try logged(t.archive)
        let first = try #require(events.first { $0.sopInstanceUID == "2.25.1" })
        let last = try #require(events.first { $0.sopInstanceUID == "2.25.2" })
        var stable = try await stableEvents(t.archive, count: 1, within: 25)
        if stable.count == 1, stable[0].occurredAt < last.occurredAt {
            stable = try await stableEvents(t.archive, count: 2, within: 25)   // stable between the two: again after the second
        }
        let lastStable = try #require(stable.last)
        #expect(lastStable.occurredAt.timeIntervalSince(last.occurredAt) >= 1)
        #expect(stable.count == 1 || (stable.count == 2 && stable[0].occurredAt.timeIntervalSince(first.occurredAt) >= 1))
    }

    @Test(.timeLimit(.minutes(5))) func aStudyWaitingWhenTheProcessDiedBecomesStableOnceAfterTheRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = ArchiveConfiguration(dataDirectory: directory, studyQuietPeriod: .milliseconds(300))
        do {
            // No monitor runs, and the archive is never closed: as if killed during the quiet period.
            let before = try Archive(configuration: configuration)
            _ = try await before.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
            before.releaseDataFolderLock()
        }
        for _ in 0..<2 {
            let after = try Archive(configuration: configuration)
            let monitor = Task { try await after.monitorStudyStability() }
            let stable = try await stableEvents(after, count: 1, within: 25)
            try await Task.sleep(for: .milliseconds(600))
            monitor.cancel()
            _ = try? await monitor.value
            #expect(stable.count == 1)
            #expect(try logged(after).filter { $0.kind == .studyStable }.count == 1)
            try after.close()
        }
    }

    @Test(.timeLimit(.minutes(5))) func resultsOfTheEnrichmentPipelineDoNotMakeTheirStudyStableAgain() async throws {
        let t = try TemporaryArchive(quietPeriod: .milliseconds(200))
        let monitor = Task { try await t.archive.monitorStudyStability() }
        defer { monitor.cancel() }
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        #expect(try await stableEvents(t.archive, count: 1, within: 25).count == 1)
        _ = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.300", sop: "2.25.9", modality: "SR"),
                                       context: IngestContext(origin: .enrichment, principal: "image-quality 1.0"))
        try await Task.sleep(for: .milliseconds(800))
        let events = try logged(t.archive)
        #expect(events.filter { $0.kind == .studyStable }.count == 1)
        #expect(events.last { $0.kind == .instanceStored }?.origin == .enrichment)
    }

    @Test func aDeletedStudyNeverBecomesStable() async throws {
        let t = try TemporaryArchive(quietPeriod: .milliseconds(100))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        try await t.archive.delete(InstanceSelector(study: "2.25.100"))
        _ = try logged(t.archive)
        try await Task.sleep(for: .milliseconds(200))
        let now = Date().timeIntervalSince1970
        #expect(try t.archive.primary.markStable(quietBefore: now, now: now).studies.isEmpty)
    }
}

/// Primary data (here: Observations) is kept apart from the index and survives its rebuild.
@Suite struct PrimaryDataTests {
    func write(_ archive: Archive, id: String, study: String) async throws -> ObservationRecord {
        let outcome = try await archive.writeObservation(ObservationWrite(
            id: id, values: ObservationSearchValues(status: "final", subject: "Patient/p1", effective: "", device: "",
                                                    tokens: [.init(parameter: "code", system: "http://loinc.org", code: "1-8")],
                                                    derivedFromStudies: [study]),
            creating: true, expectedVersion: nil, now: 1_700_000_000) { version, _ in "{\"id\":\"\(id)\",\"v\":\(version)}" })
        guard case .written(let record) = outcome else { throw ArchiveError(.storage, "not written: \(outcome)") }
        return record
    }

    @Test func observationsSurviveTheLossOfTheIndexAndReindexing() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = ArchiveConfiguration(dataDirectory: directory)
        let written: ObservationRecord
        do {
            let archive = try Archive(configuration: configuration)
            _ = try await archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
            written = try await write(archive, id: "obs-1", study: "2.25.100")
            try archive.close()
        }
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent("index.sqlite" + suffix))
        }
        let archive = try Archive(configuration: configuration)
        #expect(try archive.reindex().indexed == 1)
        #expect(try await archive.observation(id: "obs-1") == written)
        var filter = ObservationFilter()
        filter.conditions = [.derivedFromStudies(["2.25.100"]), .tokens(parameter: "code", anyOf: [.init(code: "1-8", system: nil, requiresNoSystem: false)])]
        #expect(try await archive.searchObservations(filter, limit: 10, offset: 0).total == 1)
        try archive.close()
    }

    @Test func verifyReportsPrimaryRecordsWhoseStudyIsGone() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        _ = try await write(t.archive, id: "obs-1", study: "2.25.100")
        #expect(try t.archive.verify().primaryRecordsWithoutStudy.isEmpty)
        try await t.archive.delete(InstanceSelector(study: "2.25.100"))
        let orphans = try t.archive.verify().primaryRecordsWithoutStudy
        #expect(orphans.map(\.record) == ["Observation/obs-1"])
        #expect(orphans.map(\.studyInstanceUID) == ["2.25.100"])
        #expect(try await t.archive.observation(id: "obs-1") != nil)   // kept: it cannot be rebuilt
    }

    @Test func backupIsAConsistentCopyOfThePrimaryData() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        let written = try await write(t.archive, id: "obs-1", study: "2.25.100")
        try t.archive.events.relay()   // the instance's event, from the index's outbox into the log
        let destination = t.directory.appendingPathComponent("backup.sqlite").path
        try Archive.backupPrimaryData(dataDirectory: t.directory, to: destination)
        let copy = try DatabaseQueue(path: destination)
        let json = try await copy.read { db in try String.fetchOne(db, sql: "SELECT json FROM fhirObservation WHERE id = 'obs-1'") }
        #expect(json == written.json)
        #expect(try await copy.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM event") } == 1)
    }

    @Test func observationsAnOlderIndexHeldMoveToThePrimaryStore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = ArchiveConfiguration(dataDirectory: directory)
        do {
            let archive = try Archive(configuration: configuration)
            try await archive.sqliteIndex.pool.write { db in
                // The tables an older MiniVNA's FHIR module created in index.sqlite.
                try db.execute(sql: """
                    CREATE TABLE fhirObservation (id TEXT PRIMARY KEY, versionId INTEGER NOT NULL, lastUpdated REAL NOT NULL,
                        deleted INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL, subject TEXT NOT NULL, effective TEXT NOT NULL,
                        device TEXT NOT NULL, json TEXT NOT NULL);
                    CREATE TABLE fhirObservationToken (observationID TEXT NOT NULL, parameter TEXT NOT NULL, system TEXT NOT NULL,
                        code TEXT NOT NULL);
                    CREATE TABLE fhirObservationDerivedFrom (observationID TEXT NOT NULL, studyInstanceUID TEXT NOT NULL);
                    INSERT INTO fhirObservation VALUES ('old-1', 3, 1600000000, 0, 'final', 'Patient/p1', '', '', '{"id":"old-1"}');
                    INSERT INTO fhirObservationToken VALUES ('old-1', 'code', 'http://loinc.org', '1-8');
                    """)
            }
            try archive.close()
        }
        let archive = try Archive(configuration: configuration)
        let adopted = try #require(try await archive.observation(id: "old-1"))
        #expect(adopted.versionId == 3)
        #expect(adopted.json == #"{"id":"old-1"}"#)
        var filter = ObservationFilter()
        filter.conditions = [.tokens(parameter: "code", anyOf: [.init(code: "1-8", system: "http://loinc.org", requiresNoSystem: false)])]
        #expect(try await archive.searchObservations(filter, limit: 10, offset: 0).total == 1)
        #expect(try await archive.sqliteIndex.pool.read { db in try db.tableExists("fhirObservation") } == false)
        try archive.close()
    }
}
