@testable import Archive
import DICOM
import Foundation
import Synchronization
import Testing
import TestSupport

@Suite struct GroupCommitTests {
    /// Holds the first batch until the test has queued the others behind it.
    final class Gate: Sendable {
        private let opened = Mutex<CheckedContinuation<Void, Never>?>(nil)
        private let started = Mutex(false)
        func wait() async {
            await withCheckedContinuation { continuation in
                opened.withLock { $0 = continuation }
                started.withLock { $0 = true }
            }
        }
        var hasStarted: Bool { started.withLock { $0 } }
        func open() { opened.withLock { $0?.resume(); $0 = nil } }
    }

    @Test func submissionsArrivingDuringACommitShareTheNextOneAndGetTheirOwnResults() async throws {
        let commits = GroupCommit<Int, Int>()
        let batches = Mutex<[[[Int]]]>([])
        let gate = Gate()
        let committer: GroupCommit<Int, Int>.Committer = { batch in
            let first = batches.withLock { all in all.append(batch); return all.count == 1 }
            if first { await gate.wait() }
            return batch.map { items in items.map { $0 * 10 } }
        }
        async let lone = commits.submit([1], committer: committer)
        while !gate.hasStarted { try await Task.sleep(for: .milliseconds(1)) }
        let results = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for n in 2...6 {
                group.addTask { (n, await commits.submit([n, n + 100], committer: committer)) }
            }
            while commits.waiting < 5 { try await Task.sleep(for: .milliseconds(1)) }
            gate.open()
            var results: [Int: [Int]] = [:]
            for try await (n, result) in group { results[n] = result }
            return results
        }
        #expect(await lone == [10])
        for n in 2...6 { #expect(results[n] == [n * 10, (n + 100) * 10]) }
        let shapes = batches.withLock { $0.map(\.count) }
        #expect(shapes == [1, 5])   // the lone one, then all five waiting ones together
    }

    @Test func concurrentIngestsAreAllStoredAndTheSameInstanceTwiceIsStoredOnce() async throws {
        let t = try TemporaryArchive()
        let archive = t.archive
        let duplicate = try Fixture.instance(sop: "2.25.7000")
        let outcomes = try await withThrowingTaskGroup(of: IngestResult.Outcome.self) { group in
            for n in 0..<24 {
                let bytes = n % 8 == 0 ? duplicate : try Fixture.instance(series: "2.25.\(200 + n % 3)", sop: "2.25.\(7000 + n)")
                group.addTask { try await archive.ingest(bytes: bytes).outcome }
            }
            return try await group.reduce(into: [IngestResult.Outcome]()) { $0.append($1) }
        }
        // Instances 0, 8 and 16 are the same one: stored once, then recognised.
        #expect(outcomes.filter { $0 == .stored }.count == 22)
        #expect(outcomes.filter { $0 == .alreadyStored }.count == 2)
        #expect(try archive.index.counts() == (1, 3, 22))
        #expect(try archive.verify().isClean)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: archive.store.temporaryDirectory.path)
        #expect(leftovers.isEmpty)
    }

    @Test func aFailedFileSystemSyncRefusesEveryLaterBarrier() throws {
        let t = try TemporaryArchive()
        let calls = Mutex(0)
        let sync = try FileSystemSync(directory: t.archive.store.filesDirectory.path) { _ in
            calls.withLock { $0 += 1; return $0 == 2 ? -1 : 0 }   // the second call fails
        }
        try sync.sync()
        try sync.checkNoEarlierFailure()
        #expect(throws: ArchiveError.self) { try sync.sync() }
        #expect(throws: ArchiveError.self) { try sync.sync() }   // would succeed, but the failure stays
        #expect(throws: ArchiveError.self) { try sync.checkNoEarlierFailure() }
        #expect(calls.withLock { $0 } == 2)
    }
}
