@testable import Archive
import GRDB
import DICOM
import Foundation
import Testing
import TestSupport

@Suite struct ArchiveIngestTests {
    @Test func storesAnInstanceDurablyAndIndexesIt() async throws {
        let t = try TemporaryArchive()
        let result = try await t.archive.ingest(bytes: try Fixture.bytes("ct/ct_0001.dcm"))
        #expect(result.outcome == .stored)
        let stored = try #require(try t.archive.index.storedInstance(sopInstanceUID: result.sopInstanceUID))
        let onDisk = try Data(contentsOf: t.archive.store.url(forRelativePath: stored.path))
        #expect([UInt8](onDisk) == (try Fixture.bytes("ct/ct_0001.dcm")))
        #expect(try t.archive.index.counts() == (1, 1, 1))
        #expect(try t.archive.verify().isClean)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: t.archive.store.temporaryDirectory.path)
        #expect(leftovers.isEmpty)
    }

    /// The writer commits with synchronous=FULL (the WAL synced at each commit), so an
    /// acknowledged instance survives power loss: GRDB's pool sets NORMAL on its writer after the
    /// configuration's own set-up, which once left commits unsynced.
    @Test func theIndexSyncsEveryCommit() throws {
        let t = try TemporaryArchive()
        let (journal, synchronous) = try t.archive.sqliteIndex.pool.write { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(journal == "wal")
        #expect(synchronous == 2)   // FULL
    }

    @Test func storesTheIdenticalInstanceTwiceIdempotently() async throws {
        let t = try TemporaryArchive()
        let bytes = try Fixture.instance(sop: "2.25.1")
        #expect(try await t.archive.ingest(bytes: bytes).outcome == .stored)
        #expect(try await t.archive.ingest(bytes: bytes).outcome == .alreadyStored)
        #expect(try t.archive.index.counts() == (1, 1, 1))
    }

    @Test func rejectsDifferentContentUnderTheSameUIDByDefault() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1", description: "first"))
        let error = await #expect(throws: ArchiveError.self) {
            try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1", description: "second"))
        }
        #expect(error?.code == .conflict)
        let result = try await t.archive.search(QIDOQuery(level: .study))
        #expect(result.dataSets.first?.string(.studyDescription) == nil) // not returned by default
        #expect(try t.archive.verify().isClean)
    }

    @Test func replacesDifferentContentWhenThePolicySaysSo() async throws {
        let t = try TemporaryArchive(policy: .replace)
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1", modality: "CT"))
        let second = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.201", sop: "2.25.1", modality: "MR"))
        #expect(second.outcome == .replaced)
        #expect(try t.archive.index.counts() == (1, 1, 1))
        let study = try #require(try await t.archive.search(QIDOQuery(level: .study)).dataSets.first)
        #expect(study.strings(.modalitiesInStudy) == ["MR"])
        // The replacement has a file of its own; the replaced one goes (in the background).
        for _ in 0..<100 where try filesOf("2.25.1", in: t).count > 1 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try filesOf("2.25.1", in: t).count == 1)
        #expect(try t.archive.verify().isClean)
    }

    /// Every file of an instance under `files/` (its own name, or a replacement's `uid~…`).
    private func filesOf(_ uid: String, in t: TemporaryArchive) throws -> [String] {
        let folder = FileBlobStore.relativePath(forSOPInstanceUID: uid).split(separator: "/")[0]
        return try FileManager.default.contentsOfDirectory(atPath: t.archive.store.url(forRelativePath: String(folder)).path)
            .filter { $0 == "\(uid).dcm" || $0.hasPrefix("\(uid)~") }
    }

    /// Until its transaction commits, a replacement leaves the stored instance untouched: when it
    /// fails (here the folder barrier, inside the transaction), the stored file, row and metadata
    /// are what they were, and the replacement's file is gone.
    @Test func aFailedReplacementLeavesTheStoredInstanceAsItWas() async throws {
        let t = try TemporaryArchive(policy: .replace)
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1", modality: "CT"))
        let stored = try #require(try t.archive.index.storedInstance(sopInstanceUID: "2.25.1"))
        let bytes = try Data(contentsOf: t.archive.store.url(forRelativePath: stored.path))
        // Once the new row is in, every later barrier fails: the folder barrier of this transaction.
        let archive = t.archive
        try await t.archive.sqliteIndex.pool.write { db in
            db.add(function: DatabaseFunction("refuseIngests", argumentCount: 0, pure: false) { _ in
                archive.store.refuseFurtherIngests(because: "injected barrier failure")
                return nil
            })
            try db.execute(sql: "CREATE TEMP TRIGGER failBarrier AFTER INSERT ON instance BEGIN SELECT refuseIngests(); END")
        }
        await #expect(throws: ArchiveError.self) {
            try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.201", sop: "2.25.1", modality: "MR"))
        }
        let after = try #require(try t.archive.index.storedInstance(sopInstanceUID: "2.25.1"))
        #expect(after.path == stored.path)
        #expect(try Data(contentsOf: t.archive.store.url(forRelativePath: stored.path)) == bytes)
        #expect(try filesOf("2.25.1", in: t) == ["2.25.1.dcm"])
        let study = try #require(try await t.archive.search(QIDOQuery(level: .study)).dataSets.first)
        #expect(study.strings(.modalitiesInStudy) == ["CT"])
        #expect(try t.archive.verify().isClean)
    }

    @Test func rejectsAnInstanceOfAnotherStudy() async throws {
        let t = try TemporaryArchive()
        let error = await #expect(throws: ArchiveError.self) {
            try await t.archive.ingest(bytes: try Fixture.instance(study: "2.25.100", sop: "2.25.1"), context: .stow,
                                       expectedStudyInstanceUID: "2.25.999")
        }
        #expect(error?.code == .studyMismatch)
        #expect(try t.archive.index.counts() == (0, 0, 0))
    }

    @Test(arguments: ["malformed/all_zeros.dcm", "malformed/truncated_mid_element.dcm", "malformed/missing_dicm.dcm",
                      "malformed/empty.dcm", "malformed/truncated_pixel_data.dcm"])
    func refusesFilesItCannotRead(_ fixture: String) async throws {
        let t = try TemporaryArchive()
        let error = await #expect(throws: ArchiveError.self) { try await t.archive.ingest(bytes: try Fixture.bytes(fixture)) }
        #expect(error?.code == .cannotUnderstand)
        #expect(try FileManager.default.contentsOfDirectory(atPath: t.archive.store.temporaryDirectory.path).isEmpty)
    }

    @Test func refusesAnInstanceWithoutItsUIDs() async throws {
        var ds = DataSet()
        ds.setString(.sopClassUID, vr: .UI, "1.2.840.10008.5.1.4.1.1.7")
        ds.setString(.sopInstanceUID, vr: .UI, "2.25.5")
        ds.setString(.studyInstanceUID, vr: .UI, "not-a-uid")
        let t = try TemporaryArchive()
        let error = await #expect(throws: ArchiveError.self) { try await t.archive.ingest(bytes: try Part10Writer.write(ds)) }
        #expect(error?.code == .invalidInstance)
    }

    @Test func maintainsCountsAndModalitiesAcrossSeries() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.201", sop: "2.25.1", modality: "CT"))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.201", sop: "2.25.2", modality: "CT"))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.202", sop: "2.25.3", modality: "SR"))
        let study = try #require(try await t.archive.search(QIDOQuery(level: .study)).dataSets.first)
        #expect(study.string(.numberOfStudyRelatedSeries) == "2")
        #expect(study.string(.numberOfStudyRelatedInstances) == "3")
        #expect(study.strings(.modalitiesInStudy) == ["CT", "SR"])
    }

    @Test func reindexRebuildsTheIndexFromTheFilesAlone() async throws {
        let t = try TemporaryArchive()
        for i in 1...3 { _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.\(i)", instanceNumber: i)) }
        _ = try await t.archive.ingest(bytes: try Fixture.bytes("ct/ct_0002.dcm"))
        try await t.archive.sqliteIndex.pool.write { db in try db.execute(sql: "DELETE FROM instance; DELETE FROM series; DELETE FROM study") }
        #expect(try t.archive.verify().filesWithoutRows.count == 4)
        let (indexed, failures) = try t.archive.reindex()
        #expect(indexed == 4 && failures.isEmpty)
        #expect(try t.archive.index.counts() == (2, 2, 4))
        #expect(try t.archive.verify().isClean)
    }

    /// The index lost (deleted to be rebuilt): opening the folder must not take the last
    /// transaction's files, which have no rows now, for an interrupted ingest's.
    @Test func aDeletedIndexIsRebuiltWithEveryFile() async throws {
        let t = try TemporaryArchive()
        for i in 1...2 { _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.\(i)", instanceNumber: i)) }
        t.archive.releaseDataFolderLock()
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(at: t.directory.appendingPathComponent("index.sqlite" + suffix))
        }
        let reopened = try Archive(configuration: ArchiveConfiguration(dataDirectory: t.directory))
        let (indexed, failures) = try reopened.reindex()
        #expect(indexed == 2 && failures.isEmpty)
        #expect(try reopened.verify().isClean)
    }

    /// Two files of one instance (a replacement whose replaced file was left behind): the newer
    /// is indexed, the older reported.
    @Test func reindexKeepsTheNewerOfTwoFilesOfAnInstance() async throws {
        let t = try TemporaryArchive(policy: .replace)
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1", modality: "CT"))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.201", sop: "2.25.1", modality: "MR"))
        let replacement = try #require(try t.archive.index.storedInstance(sopInstanceUID: "2.25.1")).path
        let leftover = t.archive.store.url(forRelativePath: FileBlobStore.relativePath(forSOPInstanceUID: "2.25.1"))
        try Data(try Fixture.instance(sop: "2.25.1", modality: "CT")).write(to: leftover)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: leftover.path)
        let (indexed, failures) = try t.archive.reindex()
        #expect(indexed == 1)
        #expect(failures.map(\.path) == [FileBlobStore.relativePath(forSOPInstanceUID: "2.25.1")])
        #expect(try t.archive.index.storedInstance(sopInstanceUID: "2.25.1")?.path == replacement)
        let study = try #require(try await t.archive.search(QIDOQuery(level: .study)).dataSets.first)
        #expect(study.strings(.modalitiesInStudy) == ["MR"])
    }

    @Test func reindexCommitsInBatchesAndKeepsGoingPastABadFile() async throws {
        let t = try TemporaryArchive()
        for i in 1...5 { _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.\(i)", instanceNumber: i)) }
        let junk = t.archive.store.url(forRelativePath: "zz/zz/junk.dcm")
        try FileManager.default.createDirectory(at: junk.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("not dicom".utf8).write(to: junk)
        let (indexed, failures) = try t.archive.reindex(batchSize: 2)
        #expect(indexed == 5)
        #expect(failures.map(\.path) == ["zz/zz/junk.dcm"])
        #expect(try t.archive.index.counts() == (1, 1, 5))
    }

    @Test func verifyFindsChangedAndMissingFiles() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.2"))
        let first = try #require(try t.archive.index.storedInstance(sopInstanceUID: "2.25.1"))
        let second = try #require(try t.archive.index.storedInstance(sopInstanceUID: "2.25.2"))
        let handle = try FileHandle(forWritingTo: t.archive.store.url(forRelativePath: first.path))
        try handle.seek(toOffset: 200)
        try handle.write(contentsOf: Data([0xFF]))
        try handle.close()
        try FileManager.default.removeItem(at: t.archive.store.url(forRelativePath: second.path))
        let report = try t.archive.verify()
        #expect(report.checksumMismatches == ["2.25.1"])
        #expect(report.rowsWithoutFiles == ["2.25.2"])
    }

    @Test func recoversAnIngestInterruptedBetweenRenameAndCommit() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        // What a crash after the rename and before the commit leaves: the file, named in the
        // journal after the last transaction marker (earlier transactions' paths come before it).
        let orphan = FileBlobStore.relativePath(forSOPInstanceUID: "2.25.2")
        let url = t.archive.store.url(forRelativePath: orphan)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(try Fixture.instance(sop: "2.25.2")).write(to: url)
        let committed = FileBlobStore.relativePath(forSOPInstanceUID: "2.25.1")
        try Data("#\n\(committed)\n#\n\(orphan)\n".utf8).write(to: t.directory.appendingPathComponent("ingest.journal"))
        #expect(try t.archive.verify().filesWithoutRows == [orphan])
        t.archive.releaseDataFolderLock()   // as the crashed process's end would
        let reopened = try Archive(configuration: ArchiveConfiguration(dataDirectory: t.directory))
        #expect(try reopened.verify().isClean)
        #expect(try reopened.index.counts() == (1, 1, 1))
        #expect(try FileManager.default.contentsOfDirectory(atPath: reopened.store.temporaryDirectory.path).isEmpty)
    }

    @Test func ingestsABatchInOneTransactionWithPerInstanceOutcomes() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.9", description: "stored before"))
        let files = try [
            Fixture.instance(sop: "2.25.1"),
            Fixture.instance(sop: "2.25.9", description: "other content"),   // conflict
            Array("not dicom".utf8),                                         // unreadable
            Fixture.instance(sop: "2.25.1"),                                 // same as the first, same batch
            Fixture.instance(sop: "2.25.2"),
        ].map { try t.archive.store.writeTemporary($0) }
        let results = await t.archive.ingest(stagedFiles: files)
        #expect(try results[0].get().outcome == .stored)
        #expect(results[1].failureCode == .conflict)
        #expect(results[2].failureCode == .cannotUnderstand)
        #expect(try results[3].get().outcome == .alreadyStored)
        #expect(try results[4].get().outcome == .stored)
        #expect(try t.archive.index.counts() == (1, 1, 3))
        #expect(try t.archive.verify().isClean)
        #expect(try FileManager.default.contentsOfDirectory(atPath: t.archive.store.temporaryDirectory.path).isEmpty)
    }

    @Test func reopensAnExistingDataFolderWithEverythingInIt() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        t.archive.releaseDataFolderLock()
        let reopened = try Archive(configuration: ArchiveConfiguration(dataDirectory: t.directory))
        #expect(try reopened.index.counts() == (1, 1, 1))
    }

    /// A COMMIT that fails may still be recovered by SQLite at restart (its record can be in the
    /// WAL), so its files stay and nothing more is acknowledged until a restart, whose recovery
    /// then matches the files to what SQLite kept (here: nothing, the transaction rolled back).
    @Test func aFailedCommitStopsIngestsUntilARestartReconciles() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        // A deferred foreign key that every new instance row violates: checked at COMMIT only.
        try await t.archive.sqliteIndex.pool.write { db in
            try db.execute(sql: """
                CREATE TABLE commitBlocker (instanceRowID INTEGER REFERENCES instance(id) DEFERRABLE INITIALLY DEFERRED);
                CREATE TRIGGER blockCommits AFTER INSERT ON instance BEGIN INSERT INTO commitBlocker VALUES (-1); END;
                """)
        }
        await #expect(throws: ArchiveError.self) { try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.2")) }
        let kept = t.archive.store.url(forRelativePath: FileBlobStore.relativePath(forSOPInstanceUID: "2.25.2"))
        #expect(FileManager.default.fileExists(atPath: kept.path))
        do {
            _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.3"))
            Issue.record("an ingest was acknowledged after a failed commit")
        } catch let error as ArchiveError {
            #expect(error.reason.contains("no instance is acknowledged until MiniVNA is restarted"))
        }
        try await t.archive.sqliteIndex.pool.write { db in try db.execute(sql: "DROP TRIGGER blockCommits; DROP TABLE commitBlocker") }
        t.archive.releaseDataFolderLock()
        let restarted = try Archive(configuration: ArchiveConfiguration(dataDirectory: t.directory))
        #expect(!FileManager.default.fileExists(atPath: kept.path))
        #expect(try restarted.index.counts() == (1, 1, 1))
        #expect(try restarted.verify().isClean)
        #expect(try await restarted.ingest(bytes: try Fixture.instance(sop: "2.25.3")).outcome == .stored)
    }

    /// Opening runs crash recovery, which removes uncommitted files and uploads in `tmp/`: on a
    /// folder another archive has open, that would remove what it is about to acknowledge.
    @Test func aDataFolderOpenElsewhereIsRefusedAndNothingInItIsTouched() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        let upload = try t.archive.store.writeTemporary(try Fixture.instance(sop: "2.25.2"))
        #expect {
            try Archive(configuration: ArchiveConfiguration(dataDirectory: t.directory))
        } throws: { error in
            (error as? ArchiveError)?.reason.contains("in use by another MiniVNA process") == true
        }
        #expect(FileManager.default.fileExists(atPath: upload.url.path))
        let results = await t.archive.ingest(stagedFiles: [upload])
        #expect(try results[0].get().outcome == .stored)
        #expect(try t.archive.verify().isClean)
    }
}
