@testable import Archive
import DICOM
import Foundation
import Testing
import TestSupport

/// Matching rules of PS3.4 C.2.2.2 over a small archive of five studies.
@Suite struct QIDOQueryTests {
    static func makeArchive() async throws -> TemporaryArchive {
        let t = try TemporaryArchive()
        let studies: [(String, String, String, String, String, String)] = [
            // study, patient name, patient id, date, modality, accession
            ("2.25.11", "Smith^John", "ID123", "20240110", "CT", "ACC1"),
            ("2.25.12", "Smithson^Anna", "X-1234", "20240115", "MR", "ACC2"),
            ("2.25.13", "Müller^Jürgen", "M77", "20240201", "CT", "XR3"),
            ("2.25.14", "Doe^Jane", "D1", "20231231", "US", "ACC4"),
            ("2.25.15", "de la Cruz^Maria", "C5", "20240301", "MR", "acc5"),
        ]
        var n = 0
        for (study, name, id, date, modality, accession) in studies {
            n += 1
            _ = try await t.archive.ingest(bytes: try Fixture.instance(study: study, series: "\(study).1", sop: "\(study).1.1",
                patientName: name, patientID: id, modality: modality, studyDate: date, accession: accession,
                description: "Study \(n)"))
        }
        // a second series (SR) in the first study
        _ = try await t.archive.ingest(bytes: try Fixture.instance(study: "2.25.11", series: "2.25.11.2", sop: "2.25.11.2.1",
            patientName: "Smith^John", patientID: "ID123", modality: "SR", studyDate: "20240110", accession: "ACC1"))
        return t
    }

    func studies(_ t: TemporaryArchive, _ parameters: [(String, String)]) async throws -> [String] {
        let query = try QIDOQuery.parse(parameters.map { (key: $0.0, value: $0.1) }, level: .study)
        return try await t.archive.search(query).dataSets.compactMap { $0.string(.studyInstanceUID) }.sorted()
    }

    @Test func matchesSingleValuesExactlyAndCaseSensitively() async throws {
        let t = try await Self.makeArchive()
        #expect(try await studies(t, [("PatientID", "ID123")]) == ["2.25.11"])
        #expect(try await studies(t, [("AccessionNumber", "acc1")]).isEmpty)
        #expect(try await studies(t, [("00080050", "ACC2")]) == ["2.25.12"]) // key by tag
    }

    @Test func matchesLeadingAndTrailingWildcards() async throws {
        let t = try await Self.makeArchive()
        #expect(try await studies(t, [("00100020", "*123*")]) == ["2.25.11", "2.25.12"])
        #expect(try await studies(t, [("AccessionNumber", "ACC?")]) == ["2.25.11", "2.25.12", "2.25.14"])
        #expect(try await studies(t, [("StudyDescription", "*3")]) == ["2.25.13"])
    }

    @Test func matchesPersonNamesCaseInsensitivelyWithWildcards() async throws {
        let t = try await Self.makeArchive()
        #expect(try await studies(t, [("PatientName", "*smith*")]) == ["2.25.11", "2.25.12"])
        #expect(try await studies(t, [("PatientName", "smith^john")]) == ["2.25.11"])
    }

    @Test func fuzzyMatchingIgnoresCaseAndAccentsOnNameComponentPrefixes() async throws {
        let t = try await Self.makeArchive()
        #expect(try await studies(t, [("PatientName", "muller"), ("fuzzymatching", "true")]) == ["2.25.13"])
        #expect(try await studies(t, [("PatientName", "jurg"), ("fuzzymatching", "true")]) == ["2.25.13"])
        #expect(try await studies(t, [("PatientName", "cruz"), ("fuzzymatching", "true")]) == ["2.25.15"])
        #expect(try await studies(t, [("PatientName", "ohn"), ("fuzzymatching", "true")]).isEmpty) // prefix, not substring
        #expect(try await studies(t, [("PatientName", "muller")]).isEmpty) // not fuzzy: exact
    }

    @Test func fuzzyMatchingFoldsLettersThatDoNotDecompose() async throws {
        let t = try TemporaryArchive()
        _ = try await t.archive.ingest(bytes: try Fixture.instance(study: "2.25.21", sop: "2.25.21.1", patientName: "Nowak^Małgorzata"))
        _ = try await t.archive.ingest(bytes: try Fixture.instance(study: "2.25.22", series: "2.25.201", sop: "2.25.22.1",
                                                                   patientName: "Kierkegaard^Søren"))
        #expect(try await studies(t, [("PatientName", "malgorzata"), ("fuzzymatching", "true")]) == ["2.25.21"])
        #expect(try await studies(t, [("PatientName", "soren"), ("fuzzymatching", "true")]) == ["2.25.22"])
    }

    @Test func matchesDateRangesWithOpenEnds() async throws {
        let t = try await Self.makeArchive()
        #expect(try await studies(t, [("StudyDate", "20240101-20240131")]) == ["2.25.11", "2.25.12"])
        #expect(try await studies(t, [("StudyDate", "-20231231")]) == ["2.25.14"])
        #expect(try await studies(t, [("StudyDate", "20240201-")]) == ["2.25.13", "2.25.15"])
        #expect(try await studies(t, [("StudyDate", "20240115")]) == ["2.25.12"])
    }

    @Test func matchesUIDListsAndModalitiesInStudy() async throws {
        let t = try await Self.makeArchive()
        #expect(try await studies(t, [("StudyInstanceUID", "2.25.11\\2.25.14")]) == ["2.25.11", "2.25.14"])
        #expect(try await studies(t, [("StudyInstanceUID", "2.25.12,2.25.13")]) == ["2.25.12", "2.25.13"])
        #expect(try await studies(t, [("ModalitiesInStudy", "SR")]) == ["2.25.11"])
        #expect(try await studies(t, [("ModalitiesInStudy", "US\\MR")]) == ["2.25.12", "2.25.14", "2.25.15"])
    }

    @Test func universalMatchingReturnsTheAttributeWithoutFiltering() async throws {
        let t = try await Self.makeArchive()
        let query = try QIDOQuery.parse([(key: "StudyDescription", value: "")], level: .study)
        let results = try await t.archive.search(query).dataSets
        #expect(results.count == 5)
        #expect(results.allSatisfy { $0.string(.studyDescription)?.hasPrefix("Study ") == true })
    }

    @Test func pagesWithLimitAndOffsetAndSaysWhenResultsWereCut() async throws {
        let t = try await Self.makeArchive()
        let first = try await t.archive.search(try QIDOQuery.parse([(key: "limit", value: "2")], level: .study))
        #expect(first.dataSets.count == 2 && first.truncated)
        let last = try await t.archive.search(try QIDOQuery.parse([(key: "limit", value: "2"), (key: "offset", value: "4")], level: .study))
        #expect(last.dataSets.count == 1 && !last.truncated)
    }

    @Test func returnsTheRequiredStudyAttributes() async throws {
        let t = try await Self.makeArchive()
        let query = try QIDOQuery.parse([(key: "PatientID", value: "ID123")], level: .study)
        let study = try #require(try await t.archive.search(query, retrieveURL: { "http://x/studies/\($0.studyInstanceUID)" }).dataSets.first)
        for tag in [Tag.studyDate, .studyTime, .accessionNumber, .instanceAvailability, .modalitiesInStudy, .referringPhysicianName,
                    .retrieveURL, .patientName, .patientID, .patientBirthDate, .patientSex, .studyInstanceUID, .studyID,
                    .numberOfStudyRelatedSeries, .numberOfStudyRelatedInstances] {
            #expect(study.contains(tag), "missing \(tag)")
        }
        #expect(study.string(.retrieveURL) == "http://x/studies/2.25.11")
        #expect(study.string(.numberOfStudyRelatedInstances) == "2")
    }

    @Test func searchesSeriesAndInstancesWithinAndAcrossStudies() async throws {
        let t = try await Self.makeArchive()
        let series = try await t.archive.search(try QIDOQuery.parse([], level: .series, studyInstanceUID: "2.25.11"))
        #expect(series.dataSets.compactMap { $0.string(.modality) }.sorted() == ["CT", "SR"])
        #expect(!series.dataSets[0].contains(.patientName)) // study attributes only when no study is in the path
        let mr = try await t.archive.search(try QIDOQuery.parse([(key: "Modality", value: "MR")], level: .series))
        #expect(mr.dataSets.count == 2 && mr.dataSets.allSatisfy { $0.contains(.patientName) })
        let instances = try await t.archive.search(try QIDOQuery.parse([(key: "PatientID", value: "ID123")], level: .instance))
        #expect(instances.dataSets.compactMap { $0.string(.sopInstanceUID) }.sorted() == ["2.25.11.1.1", "2.25.11.2.1"])
    }

    @Test func includefieldAddsAttributesFromTheIndexAndFromTheFiles() async throws {
        let t = try await Self.makeArchive()
        let q2 = try QIDOQuery.parse([(key: "PatientID", value: "ID123"), (key: "includefield", value: "00081030,InstanceNumber")],
                                     level: .study)
        let study = try #require(try await t.archive.search(q2).dataSets.first)
        #expect(study.string(.studyDescription) == "Study 1")
        #expect(study.string(.instanceNumber) == "1") // not indexed at study level: read from a file
    }

    @Test(arguments: [
        ("Foo", "1"), ("limit", "abc"), ("offset", "-1"), ("limit", "-5"), ("StudyDate", "2024"), ("StudyDate", "20241301"),
        ("StudyInstanceUID", "1.2.abc"), ("SOPInstanceUID", "1.2.3"), ("fuzzymatching", "yes"), ("includefield", "NotAKeyword"),
        ("00100010x", ""), ("StudyDate", "-"),
    ])
    func rejectsMalformedOrUnsupportedKeysNamingThem(_ parameter: (String, String)) {
        let error = #expect(throws: ArchiveError.self) {
            try QIDOQuery.parse([(key: parameter.0, value: parameter.1)], level: .study)
        }
        #expect(error?.code == .invalidQuery)
        #expect(error?.reason.contains(parameter.0) == true || error?.reason.contains(parameter.1) == true)
    }
}
