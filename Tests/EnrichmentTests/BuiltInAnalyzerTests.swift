import Archive
import DICOM
@testable import Enrichment
import Foundation
import Testing
import TestSupport

/// The CT dose and data-quality analyzers on headers made for the case.
@Suite struct BuiltInAnalyzerTests {
    static let ctImage = "1.2.840.10008.5.1.4.1.1.2"

    /// `count` CT slices of one series, 5 mm apart.
    func storeCT(_ archive: Archive, study: String, bodyPart: String, ctdiVol: Double?, count: Int = 3) async throws {
        for index in 0..<count {
            var texts: [(DICOM.Tag, VR, String)] = [(.bodyPartExamined, .CS, bodyPart), (.kvp, .DS, "120"), (.sliceThickness, .DS, "5"),
                                              (.imagePositionPatient, .DS, "0\\0\\\(5 * index)"), (.xRayTubeCurrent, .IS, "200")]
            texts.append((.exposureTime, .IS, "500"))
            _ = try await archive.ingest(bytes: try Fixture.instance(
                study: study, series: "\(study).1", sop: "\(study).1.\(index)", sopClass: Self.ctImage, modality: "CT",
                instanceNumber: index + 1, extra: elements(texts, doubles: ctdiVol.map { [(.ctdIvol, $0)] } ?? [])))
        }
    }

    /// An X-Ray Radiation Dose SR whose accumulated data gives the study's DLP total (TID 10011).
    func storeDoseReport(_ archive: Archive, study: String, dlpTotal: Double) async throws {
        let tree = SRContentItem(nil, .dcm("113701", "X-Ray Radiation Dose Report"), .container(continuous: false, template: "10011"), children: [
            .init("CONTAINS", .dcm("113811", "CT Accumulated Dose Data"), .container(continuous: true, template: nil), children: [
                .init("CONTAINS", .dcm("113813", "CT Dose Length Product Total"), .number(dlpTotal, unit: .ucum("mGy.cm", "mGy.cm"))),
            ]),
        ])
        var content = DataSet()
        tree.encode(into: &content)
        _ = try await archive.ingest(bytes: try Fixture.instance(study: study, series: "\(study).9", sop: "\(study).9.1",
                                                                 sopClass: "1.2.840.10008.5.1.4.1.1.88.67", modality: "SR",
                                                                 extra: Array(content)))
    }

    @Test func aStudyAboveTheReferenceLevelIsFlaggedWithTheDoseReportsDLP() async throws {
        let t = try TemporaryArchive()
        try await storeCT(t.archive, study: "2.25.500", bodyPart: "CHEST", ctdiVol: 30)
        try await storeDoseReport(t.archive, study: "2.25.500", dlpTotal: 432.1)
        let input = try await studyInput(t.archive, study: "2.25.500")
        let ctOnly = StudyInput(study: input.study, series: input.series.filter { $0.modality == "CT" }, allSeries: input.allSeries,
                                job: input.job, archive: t.archive)
        let group = try #require(try await DoseAnalyzer().analyze(ctOnly).groups.first)
        let values = Dictionary(uniqueKeysWithValues: group.measurements.map { ($0.concept.code, $0.value) })
        #expect(values["113830"] == 30)
        #expect(values["113838"] == 432.1)
        #expect(values["113733"] == 120 && values["113734"] == 200 && values["113824"] == 0.5 && values["112225"] == 5)
        #expect(group.finding == QualityCodes.qualityIssue && group.priority == .urgent)
        #expect(group.trackingIdentifier.contains("CTDIvol above 12 mGy") && group.trackingIdentifier.contains("DLP above 400"))
        #expect(group.findingSite?.code == "51185008")
    }

    @Test func withinTheLevelTheDLPIsEstimatedFromTheScannedLength() async throws {
        let t = try TemporaryArchive()
        try await storeCT(t.archive, study: "2.25.501", bodyPart: "ABDOMEN", ctdiVol: 5)
        let input = try await studyInput(t.archive, study: "2.25.501")
        let group = try #require(try await DoseAnalyzer().analyze(input).groups.first)
        // 5 mGy over (10 mm of positions + one 5 mm slice) = 7.5 mGy·cm.
        #expect(group.measurements.first { $0.concept.code == "113838" }?.value == 7.5)
        #expect(group.finding == QualityCodes.meetsStandard && group.priority == .routine)
    }

    @Test func aConfiguredLevelReplacesTheDefault() async throws {
        let t = try TemporaryArchive()
        try await storeCT(t.archive, study: "2.25.502", bodyPart: "ABDOMEN", ctdiVol: 5)
        let input = try await studyInput(t.archive, study: "2.25.502")
        let group = try #require(try await DoseAnalyzer(referenceLevels: ["ABDOMEN": .init(ctdiVol: 4, dlp: 100)]).analyze(input).groups.first)
        #expect(group.priority == .urgent)
    }

    @Test func headerProblemsAcrossAStudyAreFindings() async throws {
        let t = try TemporaryArchive()
        let study = "2.25.600"
        for (index, number) in [1, 1, 2].enumerated() {
            _ = try await t.archive.ingest(bytes: try Fixture.instance(
                study: study, series: "2.25.601", sop: "2.25.601.\(index)", patientID: index == 2 ? "OTHER" : "P1",
                modality: "CT", instanceNumber: number,
                extra: elements([(.pixelSpacing, .DS, index == 0 ? "0.5\\0.5" : "0.7\\0.7")])))
        }
        _ = try await t.archive.ingest(bytes: try Fixture.instance(study: study, series: "2.25.602", sop: "2.25.602.1", modality: "MG",
                                                                   extra: elements([(.bodyPartExamined, .CS, "BREAST")])))
        let input = try await studyInput(t.archive, study: study)
        let findings = try await DataQualityAnalyzer().analyze(input).groups
        let labels = findings.map(\.trackingIdentifier)
        #expect(labels.contains { $0.contains("2 patient identities") })
        #expect(labels.contains { $0.contains("Duplicate instance numbers") && $0.contains(": 1") })
        #expect(labels.contains { $0.contains("Pixel spacing differs") })
        #expect(labels.contains { $0.contains("Laterality missing") })
        #expect(findings.allSatisfy { $0.finding == QualityCodes.qualityIssue })
        #expect(findings.first { $0.trackingIdentifier.contains("patient identities") }?.priority == .urgent)
    }

    @Test func aCleanStudyGetsOneFindingSayingSo() async throws {
        let t = try TemporaryArchive()
        let study = try await storeFixtureCT(t.archive)
        let findings = try await DataQualityAnalyzer().analyze(try await studyInput(t.archive, study: study)).groups
        #expect(findings.map(\.trackingIdentifier) == ["Data quality: all checks passed"])
        #expect(findings[0].references.count == 5)
    }
}
