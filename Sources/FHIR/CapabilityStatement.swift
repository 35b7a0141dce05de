import DICOM
import Foundation

/// `GET /fhir/metadata`: exactly what is implemented.
public enum CapabilityStatement {
    public static func make(fhirBase: String) -> JSONValue {
        func parameter(_ name: String, _ type: String) -> JSONValue {
            .object(["name": .string(name), "type": .string(type)])
        }
        func resource(_ type: String, _ interactions: [String], _ parameters: [JSONValue], include: [String] = []) -> JSONValue {
            var members: [String: JSONValue] = [
                "type": .string(type),
                "interaction": .array(interactions.map { .object(["code": .string($0)]) }),
                "versioning": .string(type == "Observation" ? "versioned-update" : ["DiagnosticReport", "Device"].contains(type) ? "versioned" : "no-version"),
                "readHistory": .bool(false),
                "updateCreate": .bool(false),
                "conditionalCreate": .bool(false),
                "conditionalUpdate": .bool(false),
                "conditionalDelete": .string("not-supported"),
            ]
            if !parameters.isEmpty { members["searchParam"] = .array(parameters) }
            if !include.isEmpty { members["searchInclude"] = .array(include.map { .string($0) }) }
            return .object(members)
        }
        let common = [parameter("_count", "number"), parameter("_summary", "token")]
        return .object([
            "resourceType": .string("CapabilityStatement"),
            "status": .string("active"),
            "date": .string("2026-11-22"),
            "kind": .string("instance"),
            "software": .object(["name": .string("MiniVNA")]),
            "implementation": .object(["description": .string("MiniVNA FHIR R4 subset"), "url": .string(fhirBase)]),
            "fhirVersion": .string("4.0.1"),
            "format": .array([.string("json"), .string("application/fhir+json")]),
            "rest": .array([.object([
                "mode": .string("server"),
                "resource": .array([
                    resource("ImagingStudy", ["read", "search-type"], [
                        parameter("_id", "token"), parameter("identifier", "token"), parameter("patient", "reference"),
                        parameter("subject", "reference"), parameter("started", "date"), parameter("modality", "token"),
                        parameter("status", "token"), parameter("accession", "token"), parameter("_lastUpdated", "date"),
                    ] + common, include: ["ImagingStudy:patient"]),
                    resource("Patient", ["read", "search-type"], [parameter("_id", "token"), parameter("identifier", "token")] + common),
                    resource("Endpoint", ["read"], []),
                    resource("Observation", ["create", "read", "update", "delete", "search-type"], [
                        parameter("_id", "token"), parameter("subject", "reference"), parameter("patient", "reference"),
                        parameter("derived-from", "reference"), parameter("code", "token"), parameter("category", "token"),
                        parameter("status", "token"), parameter("date", "date"), parameter("device", "reference"),
                    ] + common),
                    resource("DiagnosticReport", ["read", "search-type"], [
                        parameter("_id", "token"), parameter("subject", "reference"), parameter("patient", "reference"),
                        parameter("study", "reference"), parameter("imaging-study", "reference"), parameter("code", "token"),
                        parameter("status", "token"), parameter("device", "reference"),
                    ] + common, include: ["DiagnosticReport:result", "DiagnosticReport:subject", "DiagnosticReport:patient",
                                          "DiagnosticReport:imaging-study", "DiagnosticReport:device"]),
                    resource("Device", ["read", "search-type"], [parameter("_id", "token"), parameter("status", "token")] + common),
                    // The access audit (admin role): one AuditEvent per recorded request.
                    resource("AuditEvent", ["read", "search-type"], [
                        parameter("date", "date"), parameter("agent-name", "string"), parameter("entity", "reference"),
                        parameter("outcome", "token"),
                    ] + common),
                ]),
            ])]),
        ])
    }
}
