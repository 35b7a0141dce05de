@testable import Archive
import GRDB
import DICOM
import Foundation
import Testing
import TestSupport

/// Storage policies (`Part10Transcoding`): what they produce is stored and indexed; a policy that
/// fails never costs the instance.
@Suite struct StoragePolicyTests {
    /// Re-writes the instance with another Study Description (a stand-in for a codec).
    struct Retitling: Part10Transcoding {
        let name = "retitling"
        func transcode(_ file: Part10File, path: String, write: ([UInt8]) throws -> Void) throws -> Bool {
            var dataSet = try file.loadingDeferredValues()
            dataSet.setString(.studyDescription, vr: .LO, "re-encoded")
            let bytes = try Part10Writer.write(dataSet)
            try write(Array(bytes[..<100]))   // in pieces, as a streaming policy writes
            try write(Array(bytes[100...]))
            return true
        }
    }

    struct Failing: Part10Transcoding {
        let name = "failing"
        func transcode(_ file: Part10File, path: String, write: ([UInt8]) throws -> Void) throws -> Bool {
            try write([0x44, 0x49])   // fails half way: the partial file must not survive
            throw ArchiveError(.storage, "codec failed")
        }
    }

    @Test func theTranscodedFileIsWhatIsStoredAndIndexed() async throws {
        let t = try TemporaryArchive(storageTranscoder: Retitling())
        let bytes = try Fixture.instance(sop: "2.25.10")
        #expect(try await t.archive.ingest(bytes: bytes).outcome == .stored)
        let stored = try #require(try t.archive.index.storedInstance(sopInstanceUID: "2.25.10"))
        let onDisk = try Part10Reader.read(path: t.archive.store.url(forRelativePath: stored.path).path)
        #expect(onDisk.dataSet.string(.studyDescription) == "re-encoded")
        // Sent again: the policy's output is the same, so this is the idempotent success.
        #expect(try await t.archive.ingest(bytes: bytes).outcome == .alreadyStored)
        #expect(try t.archive.verify().isClean)
        #expect(try FileManager.default.contentsOfDirectory(atPath: t.archive.store.temporaryDirectory.path).isEmpty)
    }

    @Test func aFailingPolicyStoresTheInstanceAsReceived() async throws {
        let t = try TemporaryArchive(storageTranscoder: Failing())
        let bytes = try Fixture.instance(sop: "2.25.11")
        #expect(try await t.archive.ingest(bytes: bytes).outcome == .stored)
        let stored = try #require(try t.archive.index.storedInstance(sopInstanceUID: "2.25.11"))
        #expect([UInt8](try Data(contentsOf: t.archive.store.url(forRelativePath: stored.path))) == bytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: t.archive.store.temporaryDirectory.path).isEmpty)
    }
}
