@testable import Archive
import GRDB
import DICOM
import Foundation
import Testing
import TestSupport

@Suite struct RepresentativeFilesTests {
    @Test func middleInstanceOfEachSeriesFirstThenItsFirstThree() async throws {
        let t = try TemporaryArchive()
        for number in [5, 1, 4, 2, 3] {   // stored out of order: instance numbers decide
            _ = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.201", sop: "2.25.1\(number)", instanceNumber: number))
        }
        for number in [1, 2] {
            _ = try await t.archive.ingest(bytes: try Fixture.instance(series: "2.25.202", sop: "2.25.2\(number)", instanceNumber: number))
        }
        let files = try await t.archive.representativeFiles(InstanceSelector(study: "2.25.100"))
        #expect(files.map(\.sopInstanceUID) == ["2.25.13", "2.25.11", "2.25.12", "2.25.22", "2.25.21"])
        let series = try await t.archive.representativeFiles(InstanceSelector(study: "2.25.100", series: "2.25.202"))
        #expect(series.map(\.sopInstanceUID) == ["2.25.22", "2.25.21"])
        await #expect(throws: ArchiveError.self) { try await t.archive.representativeFiles(InstanceSelector(study: "2.25.999")) }
    }
}
