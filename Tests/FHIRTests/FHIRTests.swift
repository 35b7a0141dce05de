import Archive
import DICOM
@testable import FHIR
import Foundation
import Testing
import TestSupport

/// An archive in a temporary folder with one CT instance (study 2.25.100, patient Doe^John / P1).
final class FHIRFixture {
    let directory: URL
    let archive: Archive
    let service: FHIRService
    let urls = FHIRService.URLs(fhirBase: "http://h/fhir", dicomWebBase: "http://h/dicom-web")

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-fhir-\(UUID().uuidString)")
        archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: directory))
        service = FHIRService(archive: archive)
        for (series, sop, number) in [("2.25.200", "2.25.1", 1), ("2.25.200", "2.25.2", 2), ("2.25.201", "2.25.3", 1)] {
            let bytes = try Fixture.instance(study: "2.25.100", series: series, sop: sop, sopClass: "1.2.840.10008.5.1.4.1.1.2",
                                             patientSex: "M", birthDate: "19800102", modality: series == "2.25.200" ? "CT" : "SR",
                                             studyTime: "093000", accession: "ACC1", description: nil,
                                             seriesNumber: series == "2.25.200" ? 1 : 2, instanceNumber: number)
            _ = try await archive.ingest(bytes: bytes)
        }
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var patientKey: String { PatientKey.make(patientID: "P1", patientName: "Doe^John") }

    func observation(_ extra: String = "", status: String = "final", subject: String? = nil) -> [UInt8] {
        Array("""
        {"resourceType":"Observation","status":"\(status)","code":{"coding":[{"system":"http://loinc.org","code":"59776-5"}]},
         "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"imaging"}]}],
         "subject":{"reference":"\(subject ?? "Patient/\(patientKey)")"},
         "effectiveDateTime":"2024-01-15T10:00:00Z"\(extra)}
        """.utf8)
    }
}

@Suite struct FHIRServiceTests {
    @Test func imagingStudyMirrorsTheIndex() async throws {
        let f = try await FHIRFixture()
        let study = try await f.service.read(type: "ImagingStudy", id: "2.25.100", urls: f.urls)
        #expect(study["numberOfSeries"] == .number("2"))
        #expect(study["numberOfInstances"] == .number("3"))
        #expect(study["started"]?.stringValue == "2024-01-15")
        #expect(study["subject"]?["reference"]?.stringValue == "Patient/\(f.patientKey)")
        #expect(study["identifier"]?.arrayValue?.first?["value"]?.stringValue == "urn:oid:2.25.100")
        let series = try #require(study["series"]?.arrayValue)
        #expect(series.map { $0["uid"]?.stringValue } == ["2.25.200", "2.25.201"])
        #expect(series[0]["instance"]?.arrayValue?.count == 2)
        try await f.archive.delete(InstanceSelector(study: "2.25.100", series: "2.25.201"))
        let after = try await f.service.read(type: "ImagingStudy", id: "2.25.100", urls: f.urls)
        #expect(after["numberOfSeries"] == .number("1") && after["numberOfInstances"] == .number("2"))
    }

    @Test func patientKeysAreStableAndSearchable() async throws {
        let f = try await FHIRFixture()
        let patient = try await f.service.read(type: "Patient", id: f.patientKey, urls: f.urls)
        #expect(patient["gender"]?.stringValue == "male" && patient["birthDate"]?.stringValue == "1980-01-02")
        #expect(patient["name"]?.arrayValue?.first?["family"]?.stringValue == "Doe")
        let bundle = try await f.service.search(type: "ImagingStudy", query: SearchQuery(parameters: [
            ("patient", "Patient/\(f.patientKey)"), ("started", "ge2024-01-01"), ("modality", "CT"), ("_include", "ImagingStudy:patient"),
        ], strict: true), urls: f.urls)
        #expect(bundle["total"] == .number("1"))
        #expect(bundle["entry"]?.arrayValue?.count == 2)   // the study and its included patient
        let none = try await f.service.search(type: "ImagingStudy", query: SearchQuery(parameters: [("started", "lt2024-01-15")],
                                                                                     strict: false), urls: f.urls)
        #expect(none["total"] == .number("0"))
    }

    @Test func unknownParametersAreIgnoredOrRefusedPerPrefer() async throws {
        let f = try await FHIRFixture()
        let lenient = try await f.service.search(type: "ImagingStudy", query: SearchQuery(parameters: [("foo", "1")], strict: false),
                                                 urls: f.urls)
        #expect(lenient["total"] == .number("1"))
        await #expect(throws: FHIRError.self) {
            try await f.service.search(type: "ImagingStudy", query: SearchQuery(parameters: [("foo", "1")], strict: true), urls: f.urls)
        }
    }

    @Test func observationLifecycle() async throws {
        let f = try await FHIRFixture()
        let created = try await f.service.createObservation(f.observation(#","derivedFrom":[{"reference":"ImagingStudy/2.25.100"}]"#))
        #expect(created.versionId == 1)
        let found = try await f.service.search(type: "Observation", query: SearchQuery(parameters: [
            ("derived-from", "ImagingStudy/2.25.100"), ("code", "http://loinc.org|59776-5"), ("date", "2024-01-15")], strict: true),
            urls: f.urls)
        #expect(found["total"] == .number("1"))
        var body = String(decoding: f.observation(#","derivedFrom":[{"identifier":{"system":"urn:dicom:uid","value":"urn:oid:2.25.3"}}]"#, status: "amended"), as: UTF8.self)
        body = body.replacingOccurrences(of: #"{"resourceType":"Observation","#, with: #"{"resourceType":"Observation","id":"\#(created.id)","#)
        let updated = try await f.service.updateObservation(id: created.id, Array(body.utf8), ifMatch: 1)
        #expect(updated.versionId == 2)
        await #expect(throws: FHIRError.self) { try await f.service.updateObservation(id: created.id, Array(body.utf8), ifMatch: 1) }
        try await f.service.deleteObservation(id: created.id)
        do {
            _ = try await f.service.read(type: "Observation", id: created.id, urls: f.urls)
            Issue.record("read after delete succeeded")
        } catch let error as FHIRError {
            #expect(error.status == .gone)
        }
    }

    @Test(arguments: [
        ("not json", FHIRError.Status.badRequest),
        (#"{"resourceType":"Patient"}"#, .badRequest),
        (#"{"resourceType":"Observation","code":{"text":"x"},"subject":{"reference":"Patient/x"}}"#, .unprocessable),
    ])
    func refusesBadObservations(body: String, status: FHIRError.Status) async throws {
        let f = try await FHIRFixture()
        do {
            _ = try await f.service.createObservation(Array(body.utf8))
            Issue.record("accepted \(body)")
        } catch let error as FHIRError {
            #expect(error.status == status)
        }
    }

    @Test func refusesDanglingReferences() async throws {
        let f = try await FHIRFixture()
        for body in [f.observation(subject: "Patient/pnobody"),
                     f.observation(#","derivedFrom":[{"reference":"ImagingStudy/1.2.3.4"}]"#)] {
            do {
                _ = try await f.service.createObservation(body)
                Issue.record("accepted a dangling reference")
            } catch let error as FHIRError {
                #expect(error.status == .unprocessable)
            }
        }
    }

    @Test func dateSearchBoundsFollowPrecision() throws {
        let day = try DateSearch("ge2024-01-15", parameter: "date")
        #expect(day.prefix == .ge && day.lower == "20240115000000" && day.upper == "20240116000000")
        let month = try DateSearch("2024-12", parameter: "date")
        #expect(month.lower == "20241200000000" && month.upper == "20241300000000")
        #expect(throws: FHIRError.self) { try DateSearch("sa2024", parameter: "date") }
        #expect(throws: FHIRError.self) { try DateSearch("yesterday", parameter: "date") }
    }
}
