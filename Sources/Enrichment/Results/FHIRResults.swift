import Archive
import DICOM
import FHIR
import Foundation

/// The FHIR R4 resources of one analysis, after HL7's DICOM SR → FHIR implementation guide
/// where R4 allows (it targets R5; ImagingSelection is left out): one Observation per
/// measurement or qualitative evaluation, one per measurement group with `hasMember`, one
/// DiagnosticReport for the SR, and a Device for the analyzer version. Ids come from the job's
/// key, so a replay rewrites the same resources; a superseded result's resources get a new
/// version tagged `superseded` and are never deleted.
public struct FHIRResults: Sendable {
    static let observationCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
    /// Tag on the resources of a result a later generation replaced.
    public static let tagSystem = "https://minivna.dev/fhir/CodeSystem/ai-result"
    /// Where the confidence of a finding goes: a component coded with the SR concept the
    /// builder uses for it (see CONFORMANCE.md).
    public static let confidenceConcept = CodedConcept.sct("246264001", "Reliability")

    public struct Context: Sendable {
        public var analyzer: AnalyzerIdentity
        public var job: AnalysisJob
        public var study: StudySummary
        public var report: MeasurementReportBuilder.Report
        public var result: AnalysisResult
        /// `http://host:port/dicom-web`, for the SR's URL in DiagnosticReport.presentedForm.
        public var dicomWebBaseURL: String?
    }

    /// What was written.
    public struct Written: Sendable {
        public var observationIDs: [String]
        public var diagnosticReportID: String
        public var deviceID: String
    }

    let archive: Archive

    public init(archive: Archive) {
        self.archive = archive
    }

    public func write(_ context: Context) async throws -> Written {
        let key = context.job.idempotencyKey
        let deviceID = ResultUIDs.deviceID(context.analyzer)
        try await archive.writeStoredResource(type: "Device", id: deviceID, values: StoredResourceValues(status: "active")) { version, updated in
            Self.device(context.analyzer, id: deviceID, version: version, lastUpdated: updated).serialized()
        }
        var observationIDs: [String] = []
        var groupIDs: [String] = []
        for group in context.result.groups {
            var memberIDs: [String] = []
            let items: [(concept: CodedConcept, value: [String: JSONValue])] =
                group.measurements.map { ($0.concept, ["valueQuantity": Self.quantity($0)]) }
                + group.qualitative.map { ($0.concept, ["valueCodeableConcept": Self.concept($0.value)]) }
            for (index, item) in items.enumerated() {
                let itemKey = "\(group.trackingIdentifier)#\(index)"
                let id = ResultUIDs.observationID(key: key, item: itemKey)
                var members = base(context, code: item.concept, observationUID: context.report.itemObservationUIDs[itemKey])
                members.merge(item.value) { $1 }
                if let site = group.findingSite { members["bodySite"] = Self.concept(site) }
                try await writeObservation(id: id, members: members, code: item.concept, context: context)
                memberIDs.append(id)
            }
            let groupID = ResultUIDs.observationID(key: key, item: group.trackingIdentifier)
            var members = base(context, code: SRCodes.measurementGroup,
                               observationUID: context.report.groupObservationUIDs[group.trackingIdentifier])
            var identifiers = members["identifier"]?.arrayValue ?? []
            identifiers.append(.object(["system": .string("urn:dicom:uid"), "type": .object(["text": .string("Tracking Unique Identifier")]),
                                        "value": .string("urn:oid:" + ResultUIDs.trackingUID(key: key, group: group.trackingIdentifier))]))
            identifiers.append(.object(["type": .object(["text": .string("Tracking Identifier")]), "value": .string(group.trackingIdentifier)]))
            members["identifier"] = .array(identifiers)
            members["valueCodeableConcept"] = Self.concept(group.finding)
            if let site = group.findingSite { members["bodySite"] = Self.concept(site) }
            if !memberIDs.isEmpty {   // FHIR arrays are never empty
                members["hasMember"] = .array(memberIDs.map { .object(["reference": .string("Observation/\($0)")]) })
            }
            if let confidence = group.confidence {
                members["component"] = .array([.object([
                    "code": Self.concept(Self.confidenceConcept),
                    "valueQuantity": .object(["value": .number(DecimalString.format(confidence)), "unit": .string("1"),
                                              "system": .string(CodedConcept.ucum("1", "").fhirSystem), "code": .string("1")]),
                ])])
            }
            members["interpretation"] = .array([Self.priorityInterpretation(group.priority)])
            try await writeObservation(id: groupID, members: members, code: SRCodes.measurementGroup, context: context)
            groupIDs.append(groupID)
            observationIDs += [groupID] + memberIDs
        }
        let reportID = ResultUIDs.diagnosticReportID(key: key)
        let report = diagnosticReport(context, id: reportID, results: groupIDs, deviceID: deviceID)
        try await archive.writeStoredResource(
            type: "DiagnosticReport", id: reportID,
            values: StoredResourceValues(status: "preliminary", subject: "Patient/\(context.study.patient.key)",
                                         studyInstanceUID: context.study.studyInstanceUID,
                                         codeSystem: SRCodes.imagingMeasurementReport.fhirSystem,
                                         code: SRCodes.imagingMeasurementReport.code, device: "Device/\(deviceID)")) { version, updated in
            Self.versioned(report, version: version, lastUpdated: updated).serialized()
        }
        return Written(observationIDs: observationIDs, diagnosticReportID: reportID, deviceID: deviceID)
    }

    /// Tags an earlier result's Observations and DiagnosticReport `superseded` (a new version
    /// each, once: a replay finds them tagged already).
    public func markSuperseded(_ outputs: AnalysisOutputs, by report: String) async throws {
        for id in outputs.observationIDs {
            guard let record = try await archive.observation(id: id), !record.deleted,
                  case .object(var members) = try JSONValue.parse(Array(record.json.utf8)),
                  !Self.isSuperseded(members) else { continue }
            Self.tagSuperseded(&members, by: report)
            let values = try Self.searchValues(members)
            let tagged = members
            _ = try await archive.writeObservation(ObservationWrite(
                id: id, values: values, creating: false, expectedVersion: record.versionId, now: Date().timeIntervalSince1970) { version, updated in
                Self.versioned(.object(tagged), version: version, lastUpdated: updated).serialized()
            })
        }
        if let reportID = outputs.diagnosticReportID, let record = try await archive.storedResource(type: "DiagnosticReport", id: reportID),
           case .object(var members) = try JSONValue.parse(Array(record.json.utf8)), !Self.isSuperseded(members) {
            Self.tagSuperseded(&members, by: report)
            let tagged = members
            let studyUID = members["imagingStudy"]?.arrayValue?.first?["reference"]?.stringValue.map { String($0.dropFirst("ImagingStudy/".count)) } ?? ""
            try await archive.writeStoredResource(
                type: "DiagnosticReport", id: reportID,
                values: StoredResourceValues(status: members["status"]?.stringValue ?? "", subject: members["subject"]?["reference"]?.stringValue ?? "",
                                             studyInstanceUID: studyUID, codeSystem: SRCodes.imagingMeasurementReport.fhirSystem,
                                             code: SRCodes.imagingMeasurementReport.code,
                                             device: outputs.deviceID.map { "Device/\($0)" } ?? "")) { version, updated in
                Self.versioned(.object(tagged), version: version, lastUpdated: updated).serialized()
            }
        }
    }

    // MARK: Resources

    private func base(_ context: Context, code: CodedConcept, observationUID: String?) -> [String: JSONValue] {
        let study = context.study
        var members: [String: JSONValue] = [
            "resourceType": .string("Observation"),
            "status": .string("preliminary"),
            "category": .array([.object(["coding": .array([.object([
                "system": .string(Self.observationCategory), "code": .string("imaging"), "display": .string("Imaging")])])])]),
            "code": Self.concept(code),
            "subject": .object(["reference": .string("Patient/\(study.patient.key)")]),
            "effectiveDateTime": .string(Resources.instant(context.job.createdAt)),
            "issued": .string(Resources.instant(context.job.createdAt)),
            "device": .object(["reference": .string("Device/\(ResultUIDs.deviceID(context.analyzer))")]),
            "partOf": .array([.object(["reference": .string("ImagingStudy/\(study.studyInstanceUID)")])]),
            "derivedFrom": .array([.object(["reference": .string("ImagingStudy/\(study.studyInstanceUID)")])]),
        ]
        if let observationUID {
            members["identifier"] = .array([.object(["system": .string("urn:dicom:uid"), "value": .string("urn:oid:\(observationUID)")])])
        }
        if let basedOn = Self.serviceRequest(study) { members["basedOn"] = .array([basedOn]) }
        return members
    }

    private func writeObservation(id: String, members: [String: JSONValue], code: CodedConcept, context: Context) async throws {
        var identified = members
        identified["id"] = .string(id)
        let members = identified
        let values = try Self.searchValues(members)
        let render: @Sendable (Int, Double) throws -> String = { version, updated in
            Self.versioned(.object(members), version: version, lastUpdated: updated).serialized()
        }
        let outcome = try await archive.writeObservation(ObservationWrite(
            id: id, values: values, creating: true, expectedVersion: nil, now: Date().timeIntervalSince1970, render: render))
        // A replay after a crash wrote it before: the same content stays as it is, a different
        // answer (an external service's retry) becomes its next version.
        guard case .alreadyExists = outcome, let stored = try await archive.observation(id: id),
              try render(stored.versionId, stored.lastUpdated) != stored.json else { return }
        let update = try await archive.writeObservation(ObservationWrite(
            id: id, values: values, creating: false, expectedVersion: stored.versionId, now: Date().timeIntervalSince1970, render: render))
        if case .versionMismatch = update { throw AnalysisFailure.transient("Observation/\(id) changed while it was written") }
    }

    private func diagnosticReport(_ context: Context, id: String, results: [String], deviceID: String) -> JSONValue {
        let study = context.study
        var members: [String: JSONValue] = [
            "resourceType": .string("DiagnosticReport"),
            "id": .string(id),
            "identifier": .array([.object(["system": .string("urn:dicom:uid"), "value": .string("urn:oid:\(context.report.sopInstanceUID)")])]),
            "status": .string("preliminary"),
            "category": .array([.object(["coding": .array([.object([
                "system": .string("http://terminology.hl7.org/CodeSystem/v2-0074"), "code": .string("RAD"), "display": .string("Radiology")])])])]),
            "code": Self.concept(SRCodes.imagingMeasurementReport),
            "subject": .object(["reference": .string("Patient/\(study.patient.key)")]),
            "effectiveDateTime": .string(Resources.instant(context.job.createdAt)),
            "issued": .string(Resources.instant(context.job.createdAt)),
            "imagingStudy": .array([.object(["reference": .string("ImagingStudy/\(study.studyInstanceUID)")])]),
            "result": .array(results.map { .object(["reference": .string("Observation/\($0)")]) }),
            "conclusion": .string("\(context.analyzer.name) \(context.analyzer.version): " + context.result.groups.map { group in
                ([group.trackingIdentifier] + group.measurements.map { "\($0.concept.meaning) \(DecimalString.format($0.value)) \($0.unit.code)" }
                    + group.qualitative.map { "\($0.concept.meaning): \($0.value.meaning)" }).joined(separator: ", ")
            }.joined(separator: "; ")),
            "presentedForm": .array([.object([
                "contentType": .string("application/dicom"),
                "url": .string((context.dicomWebBaseURL ?? "/dicom-web")
                    + "/studies/\(study.studyInstanceUID)/series/\(context.report.seriesInstanceUID)/instances/\(context.report.sopInstanceUID)"),
                "title": .string("DICOM SR (TID 1500) by \(context.analyzer.name) \(context.analyzer.version)"),
            ])]),
        ]
        if let basedOn = Self.serviceRequest(study) { members["basedOn"] = .array([basedOn]) }
        return .object(members)
    }

    static func device(_ analyzer: AnalyzerIdentity, id: String, version: Int, lastUpdated: Double) -> JSONValue {
        versioned(.object([
            "resourceType": .string("Device"),
            "id": .string(id),
            "identifier": .array([.object(["system": .string("urn:dicom:uid"), "value": .string("urn:oid:\(ResultUIDs.deviceUID(analyzer))")])]),
            "status": .string("active"),
            "manufacturer": .string(analyzer.manufacturer),
            "deviceName": .array([.object(["name": .string(analyzer.name), "type": .string("model-name")])]),
            "modelNumber": .string(analyzer.name),
            "type": .object(["text": .string("Image analysis software")]),
            "version": .array([.object(["value": .string(analyzer.version)])]),
            "note": .array([.object(["text": .string(analyzer.description)])]),
        ]), version: version, lastUpdated: lastUpdated)
    }

    // MARK: Pieces

    static func concept(_ concept: CodedConcept) -> JSONValue {
        .object(["coding": .array([.object(["system": .string(concept.fhirSystem), "code": .string(concept.code),
                                            "display": .string(concept.meaning)])])])
    }

    static func quantity(_ measurement: Measurement) -> JSONValue {
        .object(["value": .number(DecimalString.format(measurement.value)), "unit": .string(measurement.unit.meaning),
                 "system": .string(measurement.unit.fhirSystem), "code": .string(measurement.unit.code)])
    }

    /// v3 ObservationInterpretation: critical → AA (critical abnormal), urgent → A, routine → none stated (N is not claimed).
    static func priorityInterpretation(_ priority: FindingPriority) -> JSONValue {
        let system = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
        switch priority {
        case .critical: return .object(["coding": .array([.object(["system": .string(system), "code": .string("AA"), "display": .string("Critical abnormal")])]), "text": .string("critical")])
        case .urgent: return .object(["coding": .array([.object(["system": .string(system), "code": .string("A"), "display": .string("Abnormal")])]), "text": .string("urgent")])
        case .routine: return .object(["text": .string("routine")])
        }
    }

    /// The ServiceRequest by accession number (a logical reference: MiniVNA holds no orders).
    static func serviceRequest(_ study: StudySummary) -> JSONValue? {
        guard !study.accessionNumber.isEmpty else { return nil }
        return .object(["type": .string("ServiceRequest"), "identifier": .object([
            "type": .object(["coding": .array([.object(["system": .string("http://terminology.hl7.org/CodeSystem/v2-0203"), "code": .string("ACSN")])])]),
            "value": .string(study.accessionNumber),
        ])])
    }

    static func versioned(_ resource: JSONValue, version: Int, lastUpdated: Double) -> JSONValue {
        guard case .object(var members) = resource else { return resource }
        var meta = members["meta"]?.objectValue ?? [:]
        meta["versionId"] = .string(String(version))
        meta["lastUpdated"] = .string(Resources.instant(lastUpdated))
        members["meta"] = .object(meta)
        return .object(members)
    }

    static func isSuperseded(_ members: [String: JSONValue]) -> Bool {
        (members["meta"]?["tag"]?.arrayValue ?? []).contains { $0["code"]?.stringValue == "superseded" }
    }

    static func tagSuperseded(_ members: inout [String: JSONValue], by report: String) {
        var meta = members["meta"]?.objectValue ?? [:]
        meta["tag"] = .array((meta["tag"]?.arrayValue ?? []) + [.object([
            "system": .string(tagSystem), "code": .string("superseded"),
            "display": .string("Superseded by the result of a later stable generation (DiagnosticReport/\(report))"),
        ])])
        members["meta"] = .object(meta)
    }

    /// The search values of an Observation this type writes (the same ones FHIR's own
    /// validation computes for a posted Observation).
    static func searchValues(_ members: [String: JSONValue]) throws -> ObservationSearchValues {
        func tokens(_ concept: JSONValue?, _ parameter: String) -> [ObservationSearchValues.Token] {
            (concept?["coding"]?.arrayValue ?? []).compactMap { coding in
                coding["code"]?.stringValue.map { .init(parameter: parameter, system: coding["system"]?.stringValue ?? "", code: $0) }
            }
        }
        let studies = (members["derivedFrom"]?.arrayValue ?? []).compactMap { $0["reference"]?.stringValue }
            .filter { $0.hasPrefix("ImagingStudy/") }.map { String($0.dropFirst("ImagingStudy/".count)) }
        let effective = (members["effectiveDateTime"]?.stringValue ?? "").filter(\.isNumber).prefix(14)
        return ObservationSearchValues(
            status: members["status"]?.stringValue ?? "", subject: members["subject"]?["reference"]?.stringValue ?? "",
            effective: String(effective), device: members["device"]?["reference"]?.stringValue ?? "",
            tokens: tokens(members["code"], "code") + (members["category"]?.arrayValue ?? []).flatMap { tokens($0, "category") },
            derivedFromStudies: studies)
    }
}
