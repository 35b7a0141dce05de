import Archive
import DICOM
import Foundation

/// CT dose and protocol: CTDIvol, DLP, kVp, tube current, exposure time, exposure and slice
/// thickness from the image headers, and from X-Ray Radiation Dose SRs (TID 10011) when the
/// study has one (the SR's DLP total is used before an estimate from the images), compared
/// with diagnostic reference levels per body part. A study above a level is flagged for review
/// (urgent), never diagnosed.
public struct DoseAnalyzer: Analyzer {
    /// A diagnostic reference level: CTDIvol (mGy) and DLP (mGy·cm).
    public struct ReferenceLevel: Sendable, Hashable, Codable {
        public var ctdiVol: Double
        public var dlp: Double
        public init(ctdiVol: Double, dlp: Double) {
            self.ctdiVol = ctdiVol
            self.dlp = dlp
        }
    }

    /// Illustrative adult levels of the order national DRLs publish; a site sets its own.
    public static let defaultReferenceLevels: [String: ReferenceLevel] = [
        "HEAD": .init(ctdiVol: 60, dlp: 1_000), "BRAIN": .init(ctdiVol: 60, dlp: 1_000),
        "CHEST": .init(ctdiVol: 12, dlp: 400), "THORAX": .init(ctdiVol: 12, dlp: 400),
        "ABDOMEN": .init(ctdiVol: 15, dlp: 700), "PELVIS": .init(ctdiVol: 15, dlp: 600),
        "ABDOMENPELVIS": .init(ctdiVol: 15, dlp: 800), "CHESTABDPELVIS": .init(ctdiVol: 15, dlp: 1_000),
    ]
    static let doseSRClasses: Set<String> = ["1.2.840.10008.5.1.4.1.1.88.67", "1.2.840.10008.5.1.4.1.1.88.76"]

    public let identity = AnalyzerIdentity(
        name: "minivna-ct-dose", version: "1.0", manufacturer: "MiniVNA",
        description: "CT dose and protocol from image headers and Radiation Dose SRs compared with diagnostic reference levels (rule-based, no model)")
    public let selector = AnalyzerSelector(modalities: ["CT"])
    public let referenceLevels: [String: ReferenceLevel]

    public init(referenceLevels: [String: ReferenceLevel] = DoseAnalyzer.defaultReferenceLevels) {
        self.referenceLevels = referenceLevels
    }

    public func analyze(_ input: StudyInput) async throws -> AnalysisResult {
        // From a dose SR: the DLP total of the study and the CTDIvol of each acquisition.
        var reportedDLPTotal: Double?
        var reportedCTDIs: [Double] = []
        for series in input.allSeries where series.instances.contains(where: { Self.doseSRClasses.contains($0.sopClassUID) }) {
            for file in try await input.files(of: series) where Self.doseSRClasses.contains(file.sopClassUID) {
                let header = try input.header(file)
                Self.walk(header) { concept, value in
                    if concept == "113813" { reportedDLPTotal = (reportedDLPTotal ?? 0) + value }
                    if concept == "113830" { reportedCTDIs.append(value) }
                }
            }
        }
        var groups: [MeasurementGroup] = []
        for series in input.series {
            var ctdi: [Double] = [], kvp: [Double] = [], current: [Double] = [], time: [Double] = [], exposure: [Double] = []
            var thickness: [Double] = [], positions: [Double] = []
            var references: [ImageReference] = []
            var bodyPart = series.bodyPartExamined.uppercased()
            for file in try await input.files(of: series) {
                guard let header = try? input.header(file) else { continue }
                if let value = header.number(.ctdIvol) { ctdi.append(value) }
                if let value = header.number(.kvp) { kvp.append(value) }
                if let value = header.number(.xRayTubeCurrent) { current.append(value) }
                if let value = header.number(.exposureTime) { time.append(value / 1_000) }
                if let value = header.number(.exposure) { exposure.append(value) }
                if let value = header.number(.sliceThickness) { thickness.append(value) }
                if let position = header.numbers(.imagePositionPatient), position.count == 3 { positions.append(position[2]) }
                if bodyPart.isEmpty { bodyPart = header.string(.bodyPartExamined)?.uppercased() ?? "" }
                references.append(input.reference(file))
            }
            guard !references.isEmpty, !(ctdi.isEmpty && kvp.isEmpty && thickness.isEmpty) else { continue }
            var measurements: [Measurement] = []
            func add(_ concept: CodedConcept, _ values: [Double], _ unit: CodedConcept) {
                guard !values.isEmpty else { return }
                measurements.append(Measurement(concept: concept, value: values.reduce(0, +) / Double(values.count), unit: unit))
            }
            let ctdiVol = ctdi.isEmpty ? (reportedCTDIs.max()) : ctdi.reduce(0, +) / Double(ctdi.count)
            if let ctdiVol { measurements.append(Measurement(concept: DoseCodes.meanCTDIvol, value: ctdiVol, unit: Units.milligray)) }
            // DLP: the dose SR's total, else CTDIvol × scanned length (slice positions plus one slice).
            var dlp = reportedDLPTotal
            if dlp == nil, let ctdiVol, let low = positions.min(), let high = positions.max() {
                let length = (high - low) + (thickness.first ?? 0)
                dlp = ctdiVol * length / 10
            }
            if let dlp { measurements.append(Measurement(concept: DoseCodes.dlp, value: dlp, unit: Units.milligrayCentimetre)) }
            add(DoseCodes.kvp, kvp, Units.kilovolt)
            add(DoseCodes.tubeCurrent, current, Units.milliampere)
            add(DoseCodes.exposureTime, time, Units.second)
            add(DoseCodes.exposure, exposure.map { $0 * 1_000 }, Units.microampereSecond)
            add(DoseCodes.sliceThickness, thickness, Units.millimetre)
            var exceeded: [String] = []
            let level = referenceLevels[bodyPart.replacingOccurrences(of: " ", with: "")]
            if let level {
                if let ctdiVol, ctdiVol > level.ctdiVol { exceeded.append("CTDIvol above \(DecimalString.format(level.ctdiVol)) mGy") }
                if let dlp, dlp > level.dlp { exceeded.append("DLP above \(DecimalString.format(level.dlp)) mGy.cm") }
            }
            let label = "Series \(series.seriesNumber.map(String.init) ?? "?")"
            let summary = level == nil ? "no DRL for \(bodyPart.isEmpty ? "unknown body part" : bodyPart)"
                : exceeded.isEmpty ? "within DRL (\(bodyPart))" : exceeded.joined(separator: ", ")
            groups.append(MeasurementGroup(
                trackingIdentifier: "CT dose \(label): \(summary)".prefixed(64),
                finding: exceeded.isEmpty ? QualityCodes.meetsStandard : QualityCodes.qualityIssue,
                findingSite: Self.bodySite(bodyPart),
                references: references, measurements: measurements,
                priority: exceeded.isEmpty ? .routine : .urgent))
        }
        guard !groups.isEmpty else { throw AnalysisFailure.notApplicable("no CT series with dose or protocol attributes") }
        return AnalysisResult(groups: groups)
    }

    /// Every NUM item of an SR content tree, by concept code value.
    static func walk(_ item: DataSet, _ visit: (String, Double) -> Void) {
        for child in item[.contentSequence]?.items ?? [] {
            if child.string(.valueType) == "NUM",
               let concept = child[.conceptNameCodeSequence]?.items?.first?.string(.codeValue),
               let value = child[.measuredValueSequence]?.items?.first?.string(.numericValue).flatMap(ValueParsing.decimalString) {
                visit(concept, value)
            }
            walk(child, visit)
        }
    }

    /// SNOMED CT body structures of the common Body Part Examined values (PS3.16 Annex L).
    static func bodySite(_ bodyPart: String) -> CodedConcept? {
        [
            "HEAD": CodedConcept.sct("69536005", "Head"), "BRAIN": .sct("12738006", "Brain"),
            "CHEST": .sct("51185008", "Thorax"), "THORAX": .sct("51185008", "Thorax"),
            "ABDOMEN": .sct("818981001", "Abdomen"), "PELVIS": .sct("816092008", "Pelvis"),
            "NECK": .sct("45048000", "Neck"),
        ][bodyPart]
    }
}

/// PS3.16 codes of TID 10011/10013 (CT radiation dose) and of the protocol values reported.
enum DoseCodes {
    static let meanCTDIvol = CodedConcept.dcm("113830", "Mean CTDIvol")
    static let dlp = CodedConcept.dcm("113838", "DLP")
    static let kvp = CodedConcept.dcm("113733", "KVP")
    static let tubeCurrent = CodedConcept.dcm("113734", "X-Ray Tube Current")
    static let exposureTime = CodedConcept.dcm("113824", "Exposure Time")
    static let exposure = CodedConcept.dcm("113736", "Exposure")
    static let sliceThickness = CodedConcept.dcm("112225", "Slice Thickness")
}
