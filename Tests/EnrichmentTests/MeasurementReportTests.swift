@testable import Archive
import DICOM
@testable import Enrichment
import Foundation
import Testing
import TestSupport

/// The TID 1500 builder and the validator that guards what it stores.
@Suite struct MeasurementReportTests {
    static let analyzer = AnalyzerIdentity(name: "lesion-finder", version: "2.1", manufacturer: "Tests", description: "test")
    static let job = AnalysisJob(id: 7, idempotencyKey: "2.25.100|1|lesion-finder@2.1", studyInstanceUID: "2.25.100", generation: 1,
                                 analyzer: "lesion-finder", analyzerVersion: "2.1", trigger: .studyStable, batchID: nil, status: .running,
                                 attempts: 1, notBefore: 0, createdAt: 1_764_000_000, updatedAt: 1_764_000_000, lastError: nil, outputs: nil)

    static func report(predecessor: (String, String)? = nil) throws -> MeasurementReportBuilder.Report {
        var header = DataSet()
        header.setString(.patientName, vr: .PN, "Doe^Jane")
        header.setString(.patientID, vr: .LO, "P1")
        header.setString(.studyDate, vr: .DA, "20250102")
        header.setString(.accessionNumber, vr: .SH, "ACC1")
        let image = ImageReference(seriesInstanceUID: "2.25.200", sopInstanceUID: "2.25.300", sopClassUID: "1.2.840.10008.5.1.4.1.1.2")
        let result = AnalysisResult(groups: [MeasurementGroup(
            trackingIdentifier: "Nodule 1", finding: .sct("27925004", "Nodule"), findingSite: .sct("39607008", "Lung structure"),
            references: [image], measurements: [Measurement(concept: .sct("81827009", "Diameter"), value: 6.25, unit: .ucum("mm", "millimeter"))],
            qualitative: [QualitativeEvaluation(concept: .dcm("111101", "Image Quality"), value: .sct("52101004", "Present"))])])
        return try MeasurementReportBuilder().build(.init(analyzer: analyzer, job: job, result: result, studyHeader: header,
                                                          seriesModalities: ["2.25.200": "CT"], predecessor: predecessor))
    }

    @Test func theReportIsValidAndDeterministic() throws {
        let report = try Self.report()
        #expect(MeasurementReportValidator().validate(report.dataSet) == [])
        #expect(try Self.report().bytes == report.bytes)
        #expect(report.sopInstanceUID == ResultUIDs.srInstanceUID(key: Self.job.idempotencyKey))
        #expect(report.dataSet.string(.sopClassUID) == MeasurementReportBuilder.comprehensive3DSRStorage)
        #expect(report.dataSet.string(.completionFlag) == "PARTIAL" && report.dataSet.string(.verificationFlag) == "UNVERIFIED")
        let equipment = try #require(report.dataSet[.contributingEquipmentSequence]?.items?.first)
        #expect(equipment.string(.deviceUID) == ResultUIDs.deviceUID(Self.analyzer))
        #expect(equipment.string(.softwareVersions) == "2.1")
        #expect(equipment[.purposeOfReferenceCodeSequence]?.items?.first?.string(.codeValue) == "1630")
        #expect(report.itemObservationUIDs.count == 2 && report.groupObservationUIDs["Nodule 1"] != nil)
    }

    @Test func aPredecessorIsNamed() throws {
        let report = try Self.report(predecessor: ("2.25.900", "2.25.901"))
        let item = try #require(report.dataSet[.predecessorDocumentsSequence]?.items?.first)
        #expect(item[.referencedSeriesSequence]?.items?.first?.string(.seriesInstanceUID) == "2.25.900")
        #expect(MeasurementReportValidator().validate(report.dataSet) == [])
    }

    @Test func resultUIDsAreValidAndDifferPerKey() {
        let uid = ResultUIDs.uid("a")
        #expect(UID.isValid(uid) && uid.hasPrefix("2.25.") && uid.count <= 64)
        #expect(uid == ResultUIDs.uid("a") && uid != ResultUIDs.uid("b"))
        #expect(ResultUIDs.decimal([0x01, 0x00]) == "256")
    }

    /// The mistakes that most often make generated TID 1500 reports fail, one at a time.
    @Test(arguments: [
        ("flag", "CompletionFlag"), ("relationship", "must be HAS CONCEPT MOD"), ("retired", "retired designator SRT"),
        ("private", "private scheme 99"), ("number", "without a numeric value"), ("template", "TID 1500"),
        ("length", "exceeds 64"), ("evidence", "CurrentRequestedProcedureEvidenceSequence"), ("units", "must be UCUM"),
    ])
    func theValidatorCatches(_ mistake: String, _ message: String) throws {
        var ds = try Self.report().dataSet
        func group(_ change: (inout DataSet) -> Void) {
            var root = ds[.contentSequence]!.items!
            let measurements = root.firstIndex { $0[.conceptNameCodeSequence]?.items?.first?.string(.codeValue) == "126010" }!
            var groups = root[measurements][.contentSequence]!.items!
            change(&groups[0])
            root[measurements].set(DataElement(tag: .contentSequence, vr: .SQ, value: .sequence(groups)))
            ds.set(DataElement(tag: .contentSequence, vr: .SQ, value: .sequence(root)))
        }
        func item(_ code: String, _ change: @escaping (inout DataSet) -> Void) {
            group { group in
                var items = group[.contentSequence]!.items!
                let index = items.firstIndex { $0[.conceptNameCodeSequence]?.items?.first?.string(.codeValue) == code }!
                change(&items[index])
                group.set(DataElement(tag: .contentSequence, vr: .SQ, value: .sequence(items)))
            }
        }
        switch mistake {
        case "flag": ds.remove(.completionFlag)
        case "relationship": item("363698007") { $0.setString(.relationshipType, vr: .CS, "HAS PROPERTIES") }
        case "retired": item("121071") { $0.set(SRCode.sequence(.conceptCodeSequence, CodedConcept(scheme: "SRT", code: "M-03010", meaning: "Nodule"))) }
        case "private": item("121071") { $0.set(SRCode.sequence(.conceptCodeSequence, CodedConcept(scheme: "99ACME", code: "N1", meaning: "Nodule"))) }
        case "number": item("81827009") { $0.remove(.measuredValueSequence); $0.set(DataElement(tag: .measuredValueSequence, vr: .SQ, value: .sequence([DataSet()]))) }
        case "template":
            var template = DataSet()
            template.setString(.mappingResource, vr: .CS, "DCMR")
            template.setString(.templateIdentifier, vr: .CS, "1501")
            ds.set(DataElement(tag: .contentTemplateSequence, vr: .SQ, value: .sequence([template])))
        case "length": ds.setString(.manufacturer, vr: .LO, String(repeating: "x", count: 65))
        case "evidence": ds.remove(.currentRequestedProcedureEvidenceSequence)
        default:
            item("81827009") { number in
                var measured = number[.measuredValueSequence]!.items![0]
                measured.set(SRCode.sequence(.measurementUnitsCodeSequence, .dcm("mm", "millimeter")))
                number.set(DataElement(tag: .measuredValueSequence, vr: .SQ, value: .sequence([measured])))
            }
        }
        let problems = MeasurementReportValidator().validate(ds)
        #expect(problems.contains { $0.description.contains(message) }, "\(mistake): \(problems)")
    }
}
