import Archive
import DICOM
import Foundation

/// Header consistency across a study, the checks a PACS administrator runs before a study is
/// trusted: one patient identity throughout (Patient ID, name, birth date), laterality and body
/// part where the modality needs them, one pixel spacing and orientation per series (CT, MR,
/// PT), and no duplicate instance numbers within a series. Each problem is a finding (a
/// quality issue, naming the check in its tracking identifier); a clean study gets one finding
/// saying so.
public struct DataQualityAnalyzer: Analyzer {
    /// Modalities whose images need Body Part Examined to be hung and compared.
    static let bodyPartModalities: Set<String> = ["CR", "DX", "MG", "XA", "RF"]
    /// Body parts that come in pairs: their images need a laterality.
    static let pairedBodyParts: Set<String> = ["BREAST", "HAND", "FOOT", "KNEE", "SHOULDER", "ELBOW", "WRIST", "ANKLE", "HIP",
                                               "EYE", "EAR", "LEG", "ARM", "FEMUR", "HUMERUS", "CLAVICLE"]
    static let volumeModalities: Set<String> = ["CT", "MR", "PT"]

    public let identity = AnalyzerIdentity(
        name: "minivna-data-quality", version: "1.0", manufacturer: "MiniVNA",
        description: "Header consistency checks across a study: patient identity, laterality, body part, geometry, instance numbers (rule-based)")
    public let selector = AnalyzerSelector()

    public init() {}

    public func analyze(_ input: StudyInput) async throws -> AnalysisResult {
        var problems: [(String, FindingPriority, [ImageReference])] = []
        var identities: [String: [ImageReference]] = [:]
        var all: [ImageReference] = []
        for series in input.allSeries {
            var spacings: Set<String> = [], orientations: Set<String> = []
            var numbers: [Int: Int] = [:]
            var missingLaterality: [ImageReference] = [], missingBodyPart: [ImageReference] = []
            var references: [ImageReference] = []
            let modality = series.modality.uppercased()
            for file in try await input.files(of: series) {
                guard let header = try? input.header(file) else { continue }
                let reference = input.reference(file)
                references.append(reference)
                let identity = [header.string(.patientID) ?? "", header.string(.patientName) ?? "", header.string(.patientBirthDate) ?? ""]
                    .joined(separator: " / ")
                identities[identity, default: []].append(reference)
                let bodyPart = (header.string(.bodyPartExamined) ?? "").uppercased()
                if Self.bodyPartModalities.contains(modality), bodyPart.isEmpty { missingBodyPart.append(reference) }
                let laterality = header.string(.laterality) ?? header.string(.imageLaterality) ?? header.string(.frameLaterality) ?? ""
                if (modality == "MG" || Self.pairedBodyParts.contains(bodyPart)), laterality.isEmpty { missingLaterality.append(reference) }
                if Self.volumeModalities.contains(modality) {
                    if let spacing = header.numbers(.pixelSpacing) { spacings.insert(spacing.map { String(format: "%.4f", $0) }.joined(separator: "\\")) }
                    if let orientation = header.numbers(.imageOrientationPatient) {
                        orientations.insert(orientation.map { String(format: "%.3f", $0) }.joined(separator: "\\"))
                    }
                }
                if let number = header.int(.instanceNumber) { numbers[number, default: 0] += 1 }
            }
            all += references
            let label = "series \(series.seriesNumber.map(String.init) ?? "?")"
            if !missingBodyPart.isEmpty {
                problems.append(("Body Part Examined missing in \(label) (\(missingBodyPart.count) of \(references.count))", .routine, missingBodyPart))
            }
            if !missingLaterality.isEmpty {
                problems.append(("Laterality missing in \(label) (\(missingLaterality.count) of \(references.count))", .urgent, missingLaterality))
            }
            if spacings.count > 1 { problems.append(("Pixel spacing differs within \(label) (\(spacings.count) values)", .routine, references)) }
            if orientations.count > 1 {
                problems.append(("Orientation differs within \(label) (\(orientations.count) values)", .routine, references))
            }
            let duplicates = numbers.filter { $0.value > 1 }.keys.sorted()
            if !duplicates.isEmpty {
                problems.append(("Duplicate instance numbers in \(label): \(duplicates.prefix(5).map(String.init).joined(separator: ", "))",
                                 .routine, references))
            }
        }
        guard !all.isEmpty else { throw AnalysisFailure.notApplicable("no instances to check") }
        if identities.count > 1 {
            problems.insert(("\(identities.count) patient identities in one study", .urgent, identities.values.flatMap { $0 }), at: 0)
        }
        if problems.isEmpty {
            return AnalysisResult(groups: [MeasurementGroup(trackingIdentifier: "Data quality: all checks passed",
                                                            finding: QualityCodes.meetsStandard, references: all)])
        }
        return AnalysisResult(groups: problems.enumerated().map { index, problem in
            MeasurementGroup(trackingIdentifier: "Data quality \(index + 1): \(problem.0)".prefixed(64), finding: QualityCodes.qualityIssue,
                             references: problem.2, priority: problem.1)
        })
    }
}
