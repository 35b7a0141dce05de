import Archive
import DICOM
import Foundation

/// Archive rows → FHIR R4 resources (JSON). Pure functions: the server supplies base URLs.
public enum Resources {
    static let dicomCodeSystem = "http://dicom.nema.org/resources/ontology/DCM"
    static let endpointID = "dicomweb"

    /// ImagingStudy (R4): identifiers (Study Instance UID as urn:oid, accession), status,
    /// subject, started, modalities, counts, description, endpoint, series with instances.
    public static func imagingStudy(_ study: StudySummary, series: [SeriesSummary]) -> JSONValue {
        var resource: [String: JSONValue] = [
            "resourceType": .string("ImagingStudy"),
            "id": .string(study.studyInstanceUID),
            "meta": .object(["lastUpdated": .string(instant(study.updatedAt))]),
            "status": .string("available"),
            "subject": .object(["reference": .string("Patient/\(study.patient.key)")]),
            "numberOfSeries": .integer(study.numberOfSeries),
            "numberOfInstances": .integer(study.numberOfInstances),
            "endpoint": .array([.object(["reference": .string("Endpoint/\(endpointID)")])]),
        ]
        var identifiers: [JSONValue] = [.object(["system": .string("urn:dicom:uid"),
                                                 "value": .string("urn:oid:\(study.studyInstanceUID)")])]
        if !study.accessionNumber.isEmpty {
            identifiers.append(.object([
                "type": .object(["coding": .array([.object([
                    "system": .string("http://terminology.hl7.org/CodeSystem/v2-0203"), "code": .string("ACSN")])])]),
                "value": .string(study.accessionNumber),
            ]))
        }
        resource["identifier"] = .array(identifiers)
        if let started = date(study.studyDate) { resource["started"] = .string(started) }
        if !study.modalities.isEmpty { resource["modality"] = .array(study.modalities.map(modalityCoding)) }
        if !study.studyDescription.isEmpty { resource["description"] = .string(study.studyDescription) }
        if !study.referringPhysicianName.isEmpty {
            resource["referrer"] = .object(["display": .string(PersonName.displayName(study.referringPhysicianName))])
        }
        if !series.isEmpty { resource["series"] = .array(series.map(seriesElement)) }
        return .object(resource)
    }

    static func seriesElement(_ series: SeriesSummary) -> JSONValue {
        var element: [String: JSONValue] = [
            "uid": .string(series.seriesInstanceUID),
            "modality": modalityCoding(series.modality.isEmpty ? "OT" : series.modality),
            "numberOfInstances": .integer(series.numberOfInstances),
        ]
        if let number = series.seriesNumber, number >= 0 { element["number"] = .integer(number) }
        if !series.seriesDescription.isEmpty { element["description"] = .string(series.seriesDescription) }
        if !series.bodyPartExamined.isEmpty {
            // Body Part Examined (0018,0015) is a DICOM defined term, not a SNOMED code: kept as display.
            element["bodySite"] = .object(["display": .string(series.bodyPartExamined)])
        }
        element["instance"] = .array(series.instances.map { instance in
            var item: [String: JSONValue] = [
                "uid": .string(instance.sopInstanceUID),
                "sopClass": .object(["system": .string("urn:ietf:rfc:3986"), "code": .string("urn:oid:\(instance.sopClassUID)")]),
            ]
            if let number = instance.instanceNumber, number >= 0 { item["number"] = .integer(number) }
            return .object(item)
        })
        return .object(element)
    }

    static func modalityCoding(_ code: String) -> JSONValue {
        .object(["system": .string(dicomCodeSystem), "code": .string(code)])
    }

    /// Patient (R4) from the DICOM patient attributes.
    public static func patient(_ patient: PatientSummary) -> JSONValue {
        var resource: [String: JSONValue] = ["resourceType": .string("Patient"), "id": .string(patient.key)]
        if !patient.patientID.isEmpty {
            resource["identifier"] = .array([.object(["value": .string(patient.patientID)])])
        }
        if let name = humanName(patient.patientName) { resource["name"] = .array([name]) }
        switch patient.sex.uppercased() {
        case "M": resource["gender"] = .string("male")
        case "F": resource["gender"] = .string("female")
        case "O": resource["gender"] = .string("other")
        default: break
        }
        if let birth = date(patient.birthDate) { resource["birthDate"] = .string(birth) }
        return .object(resource)
    }

    /// PN (alphabetic group) → HumanName: family^given^middle^prefix^suffix.
    static func humanName(_ pn: String) -> JSONValue? {
        let alphabetic = pn.split(separator: "=", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let parts = alphabetic.split(separator: "^", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.contains(where: { !$0.isEmpty }) else { return nil }
        var name: [String: JSONValue] = ["text": .string(PersonName.displayName(pn))]
        if let family = parts.first, !family.isEmpty { name["family"] = .string(family) }
        let given = parts.dropFirst().prefix(2).filter { !$0.isEmpty }
        if !given.isEmpty { name["given"] = .array(given.map { .string($0) }) }
        if parts.count > 3, !parts[3].isEmpty { name["prefix"] = .array([.string(parts[3])]) }
        if parts.count > 4, !parts[4].isEmpty { name["suffix"] = .array([.string(parts[4])]) }
        return .object(name)
    }

    /// The one Endpoint: this archive's DICOMweb (WADO-RS) base.
    public static func endpoint(dicomWebBaseURL: String) -> JSONValue {
        .object([
            "resourceType": .string("Endpoint"),
            "id": .string(endpointID),
            "status": .string("active"),
            "name": .string("MiniVNA DICOMweb"),
            "connectionType": .object([
                "system": .string("http://terminology.hl7.org/CodeSystem/endpoint-connection-type"),
                "code": .string("dicom-wado-rs"),
            ]),
            "payloadType": .array([.object(["text": .string("DICOM")])]),
            "payloadMimeType": .array([.string("application/dicom")]),
            "address": .string(dicomWebBaseURL),
        ])
    }

    /// DA `YYYYMMDD` → FHIR date `YYYY-MM-DD` (nil when not a valid date).
    static func date(_ da: String) -> String? {
        guard let value = DICOMDate(da) else { return nil }
        return String(format: "%04d-%02d-%02d", value.year, value.month, value.day)
    }

    /// Seconds since 1970 → FHIR instant (UTC, milliseconds).
    public static func instant(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}

extension PersonName {
    /// "Given Middle Family" style display of a PN's alphabetic group (`^` → spaces).
    static func displayName(_ pn: String) -> String {
        let alphabetic = pn.split(separator: "=", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let parts = alphabetic.split(separator: "^", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let ordered = [parts.count > 3 ? parts[3] : "", parts.count > 1 ? parts[1] : "", parts.count > 2 ? parts[2] : "",
                       parts.first ?? "", parts.count > 4 ? parts[4] : ""]
        return ordered.filter { !$0.isEmpty }.joined(separator: " ")
    }
}
