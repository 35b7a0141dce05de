import DICOM

/// Checks a generated Measurement Report for the mistakes that most often make TID 1500 SRs
/// fail validation, before it is stored: a report that fails is not stored (the run fails
/// with these messages). Not a full template validator: it checks what the builder could get
/// wrong, so a change to the builder that breaks a rule breaks a test.
public struct MeasurementReportValidator: Sendable {
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// Where: `root`, `root/3/2` (1-based item positions), or an attribute keyword.
        public let location: String
        public let message: String
        public var description: String { "\(location): \(message)" }
    }

    static let srClasses: Set<String> = [
        MeasurementReportBuilder.comprehensive3DSRStorage,
        "1.2.840.10008.5.1.4.1.1.88.33",   // Comprehensive SR
        "1.2.840.10008.5.1.4.1.1.88.22",   // Enhanced SR
    ]
    static let relationships: Set<String> = ["CONTAINS", "HAS PROPERTIES", "HAS CONCEPT MOD", "HAS OBS CONTEXT",
                                             "HAS ACQ CONTEXT", "INFERRED FROM", "SELECTED FROM"]
    /// Concepts whose relationship the templates fix (TID 1500, 1204, 1002/1004, 4108, 1501, 4019).
    static let fixedRelationships: [String: String] = [
        key(SRCodes.languageOfContent): "HAS CONCEPT MOD",
        key(SRCodes.procedureReported): "HAS CONCEPT MOD",
        key(SRCodes.findingSite): "HAS CONCEPT MOD",
        key(SRCodes.algorithmName): "HAS CONCEPT MOD",
        key(SRCodes.algorithmVersion): "HAS CONCEPT MOD",
        key(SRCodes.observerType): "HAS OBS CONTEXT",
        key(SRCodes.deviceObserverUID): "HAS OBS CONTEXT",
        key(SRCodes.deviceObserverName): "HAS OBS CONTEXT",
        key(SRCodes.deviceObserverManufacturer): "HAS OBS CONTEXT",
        key(SRCodes.deviceObserverModelName): "HAS OBS CONTEXT",
        key(SRCodes.trackingIdentifier): "HAS OBS CONTEXT",
        key(SRCodes.trackingUniqueIdentifier): "HAS OBS CONTEXT",
        key(SRCodes.imageLibrary): "CONTAINS",
        key(SRCodes.imagingMeasurements): "CONTAINS",
        key(SRCodes.measurementGroup): "CONTAINS",
        key(SRCodes.finding): "CONTAINS",
    ]
    /// Largest value length per VR (PS3.5 Table 6.2-1), in characters.
    static let maximumLengths: [VR: Int] = [.AE: 16, .AS: 4, .CS: 16, .DA: 8, .DS: 16, .IS: 12, .LO: 64, .SH: 16,
                                            .UI: 64, .TM: 14, .LT: 10_240, .ST: 1_024, .PN: 64 * 5]

    static func key(_ concept: CodedConcept) -> String { "\(concept.scheme)|\(concept.code)" }

    public init() {}

    public func validate(_ dataSet: DataSet) -> [Problem] {
        var problems: [Problem] = []
        func problem(_ location: String, _ message: String) { problems.append(Problem(location: location, message: message)) }

        if let sopClass = dataSet.string(.sopClassUID) {
            if !Self.srClasses.contains(sopClass) { problem("SOPClassUID", "\(sopClass) is not a Comprehensive, Comprehensive 3D or Enhanced SR") }
        } else {
            problem("SOPClassUID", "missing")
        }
        for (tag, keyword, allowed) in [(Tag.completionFlag, "CompletionFlag", ["PARTIAL", "COMPLETE"]),
                                        (Tag.verificationFlag, "VerificationFlag", ["UNVERIFIED", "VERIFIED"])] {
            guard let value = dataSet.string(tag) else { problem(keyword, "missing (type 1)"); continue }
            if !allowed.contains(value) { problem(keyword, "\"\(value)\" is not one of \(allowed.joined(separator: ", "))") }
        }
        if dataSet.string(.modality) != "SR" { problem("Modality", "must be SR") }
        if !dataSet.contains(.performedProcedureCodeSequence) { problem("PerformedProcedureCodeSequence", "missing (type 2)") }
        if !dataSet.contains(.referencedPerformedProcedureStepSequence) {
            problem("ReferencedPerformedProcedureStepSequence", "missing (type 2)")
        }
        let evidence = dataSet[.currentRequestedProcedureEvidenceSequence]?.items ?? []
        if evidence.isEmpty { problem("CurrentRequestedProcedureEvidenceSequence", "missing or empty: the evaluated instances must be listed") }
        for (index, item) in evidence.enumerated() {
            let series = item[.referencedSeriesSequence]?.items ?? []
            if item.string(.studyInstanceUID) == nil || series.isEmpty
                || series.contains(where: { ($0[.referencedSOPSequence]?.items ?? []).isEmpty }) {
                problem("CurrentRequestedProcedureEvidenceSequence[\(index + 1)]", "needs a study, series and SOP instances")
            }
        }

        // The root: a CONTAINER naming TID 1500.
        if dataSet.string(.valueType) != "CONTAINER" { problem("root", "the root must be a CONTAINER") }
        if dataSet.contains(.relationshipType) { problem("root", "the root has no relationship type") }
        if let name = dataSet[.conceptNameCodeSequence]?.items?.first.flatMap(SRCode.concept) {
            if Self.key(name) != Self.key(SRCodes.imagingMeasurementReport) {
                problem("root", "concept name \(name.code) (\(name.scheme)) is not 126000 (DCM) Imaging Measurement Report")
            }
        } else {
            problem("root", "no concept name")
        }
        let template = dataSet[.contentTemplateSequence]?.items?.first
        if template?.string(.mappingResource) != "DCMR" || template?.string(.templateIdentifier) != "1500" {
            problem("root", "Content Template Sequence must name DCMR TID 1500")
        }
        checkContent(dataSet, location: "root", isRoot: true, problem)
        var observationUIDs: [String: String] = [:]
        func collectUIDs(_ item: DataSet, _ location: String) {
            if let uid = item.string(.observationUID) {
                if let first = observationUIDs[uid] { problem(location, "Observation UID \(uid) is also used at \(first)") }
                observationUIDs[uid] = location
            }
            for (index, child) in (item[.contentSequence]?.items ?? []).enumerated() { collectUIDs(child, "\(location)/\(index + 1)") }
        }
        collectUIDs(dataSet, "root")
        checkLengths(dataSet, location: "", problem)
        return problems
    }

    private func checkContent(_ item: DataSet, location: String, isRoot: Bool, _ problem: (String, String) -> Void) {
        let valueType = item.string(.valueType) ?? ""
        let name = item[.conceptNameCodeSequence]?.items?.first.flatMap(SRCode.concept)
        if !isRoot {
            let relationship = item.string(.relationshipType) ?? ""
            if !Self.relationships.contains(relationship) { problem(location, "relationship type \"\(relationship)\" is not valid") }
            if let name, let expected = Self.fixedRelationships[Self.key(name)], expected != relationship {
                problem(location, "\(name.meaning) must be \(expected), not \(relationship)")
            }
        }
        for tag in [Tag.conceptNameCodeSequence, .conceptCodeSequence] {
            for code in item[tag]?.items ?? [] { checkCode(code, location: location, problem) }
        }
        switch valueType {
        case "CONTAINER":
            if item.string(.continuityOfContent) == nil { problem(location, "a CONTAINER needs Continuity of Content") }
        case "CODE":
            if (item[.conceptCodeSequence]?.items ?? []).isEmpty { problem(location, "a CODE item without a Concept Code Sequence") }
        case "NUM":
            guard let measured = item[.measuredValueSequence]?.items?.first else {
                problem(location, "a NUM item without a Measured Value Sequence"); break
            }
            if measured.string(.numericValue).flatMap(ValueParsing.decimalString) == nil {
                problem(location, "a NUM item without a numeric value")
            }
            if let unit = measured[.measurementUnitsCodeSequence]?.items?.first {
                checkCode(unit, location: location, problem)
                if unit.string(.codingSchemeDesignator) != "UCUM" { problem(location, "measurement units must be UCUM (CID 7181)") }
            } else {
                problem(location, "a NUM item without Measurement Units")
            }
        case "TEXT":
            if (item.string(.textValue) ?? "").isEmpty { problem(location, "a TEXT item without text") }
        case "UIDREF":
            if (item.string(.uid) ?? "").isEmpty { problem(location, "a UIDREF item without a UID") }
        case "IMAGE":
            let reference = item[.referencedSOPSequence]?.items?.first
            if reference?.string(.referencedSOPClassUID) == nil || reference?.string(.referencedSOPInstanceUID) == nil {
                problem(location, "an IMAGE item without a referenced SOP class and instance")
            }
        default:
            problem(location, "value type \"\(valueType)\" is not one MiniVNA writes")
        }
        if let name, Self.key(name) == Self.key(SRCodes.observerType),
           let value = item[.conceptCodeSequence]?.items?.first.flatMap(SRCode.concept),
           !(value.scheme == "DCM" && ["121006", "121007"].contains(value.code)) {
            problem(location, "Observer Type must be from CID 270 (Person or Device)")
        }
        if let name, Self.key(name) == Self.key(SRCodes.languageOfContent),
           item[.conceptCodeSequence]?.items?.first?.string(.codingSchemeDesignator) != "RFC5646" {
            problem(location, "the language must be an RFC5646 code (CID 5000)")
        }
        for (index, child) in (item[.contentSequence]?.items ?? []).enumerated() {
            checkContent(child, location: "\(location)/\(index + 1)", isRoot: false, problem)
        }
    }

    private func checkCode(_ code: DataSet, location: String, _ problem: (String, String) -> Void) {
        guard let concept = SRCode.concept(code) else { problem(location, "a code without a value or a scheme"); return }
        if concept.scheme == "SRT" { problem(location, "code \(concept.code) uses the retired designator SRT (use SCT)") }
        if concept.scheme.hasPrefix("99") { problem(location, "code \(concept.code) uses the private scheme \(concept.scheme)") }
        if concept.meaning.isEmpty { problem(location, "code \(concept.code) has no Code Meaning") }
    }

    /// Every text value within its VR's length (recursively through sequences).
    private func checkLengths(_ dataSet: DataSet, location: String, _ problem: (String, String) -> Void) {
        for element in dataSet {
            if let items = element.items {
                for (index, item) in items.enumerated() { checkLengths(item, location: "\(location)\(element.tag)[\(index + 1)]/", problem) }
                continue
            }
            guard let limit = Self.maximumLengths[element.vr], let values = dataSet.strings(element.tag) else { continue }
            for value in values where value.count > limit {
                problem("\(location)\(element.tag)", "\(element.vr.rawValue) value of \(value.count) characters exceeds \(limit)")
            }
        }
    }
}
