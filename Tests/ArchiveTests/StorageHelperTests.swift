@testable import Archive
import GRDB
import DICOM
import Foundation
import Testing
import TestSupport

@Suite struct StorageHelperTests {
    @Test func crc32MatchesTheStandardCheckValueAndContinuesAcrossChunks() {
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { CRC32.checksum($0) } == 0xCBF4_3926)
        var generator = SystemRandomNumberGenerator()
        let data = (0..<1_037).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // Byte-at-a-time reference (the definition), against slicing-by-8 and chunked continuation.
        var reference: UInt32 = 0xFFFF_FFFF
        for byte in data {
            reference ^= UInt32(byte)
            for _ in 0..<8 { reference = reference & 1 == 1 ? 0xEDB8_8320 ^ (reference >> 1) : reference >> 1 }
        }
        reference = ~reference
        #expect(data.withUnsafeBytes { CRC32.checksum($0) } == reference)
        let chunked = data.withUnsafeBytes { all in
            [0..<3, 3..<500, 500..<501, 501..<1_037].reduce(UInt32(0)) { crc, range in
                CRC32.checksum(UnsafeRawBufferPointer(rebasing: all[range]), seed: crc)
            }
        }
        #expect(chunked == reference)
    }

    @Test func metadataArrayPutsTheBaseInFrontOfEveryBulkDataURIAndNowhereElse() {
        let item = Array(#"{"00100010":{"vr":"PN","Value":[{"Alphabetic":"\"BulkDataURI\":\"/x"}]},"7FE00010":{"vr":"OW","BulkDataURI":"/studies/1/bulkdata/7FE00010"}}"#.utf8)
        let joined = String(decoding: InstanceMetadata.array([item, item], baseURL: "http://h:1/dicom-web"), as: UTF8.self)
        #expect(joined.hasPrefix("[{") && joined.hasSuffix("}]"))
        #expect(joined.components(separatedBy: #""BulkDataURI":"http://h:1/dicom-web/studies/1/bulkdata/7FE00010""#).count == 3)
        // A string value that merely contains the key text (escaped) is left alone.
        #expect(joined.components(separatedBy: #"\"BulkDataURI\":\"/x"#).count == 3)
    }

    @Test func deleteRemovesRowsAtOnceAndFilesOnlyAfterReadersFinish() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(sop: "2.25.1"))
        let file = try #require(try await t.archive.storedFiles(InstanceSelector(study: "2.25.100")).first)
        await t.archive.leases.acquire(study: "2.25.100")
        try await t.archive.delete(InstanceSelector(study: "2.25.100"))
        #expect(try t.archive.index.counts() == (0, 0, 0))
        try await Task.sleep(for: .milliseconds(100))
        #expect(FileManager.default.fileExists(atPath: file.url.path))   // a reader still streams it
        await t.archive.leases.release(study: "2.25.100")
        for _ in 0..<100 where FileManager.default.fileExists(atPath: file.url.path) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!FileManager.default.fileExists(atPath: file.url.path))
        #expect(try t.archive.verify().isClean)
    }

    @Test func journalKeepsOnlyTheLastTransactionForRecoveryAndRestartsWhenLarge() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let journal = try IngestJournal(url: url)
        try journal.beginTransaction()
        try journal.willMove(relativePath: "aa/bb/1.dcm")
        try journal.beginTransaction()
        try journal.willMove(relativePath: "aa/bb/2.dcm")
        try journal.willMove(relativePath: "aa/bb/3.dcm")
        #expect(IngestJournal.pathsOfLastTransaction(at: url) == ["aa/bb/2.dcm", "aa/bb/3.dcm"])
        let long = String(repeating: "x", count: 1_000)
        for _ in 0...(IngestJournal.truncationThreshold / 1_000) { try journal.willMove(relativePath: long) }
        try journal.beginTransaction()
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int
        #expect(size == 2)   // just the new transaction's marker
        #expect(IngestJournal.pathsOfLastTransaction(at: url).isEmpty)
    }
}

extension Result where Failure == ArchiveError {
    var failureCode: ArchiveError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
