import Archive
import DICOM
import Foundation

/// The access audit as FHIR R4 AuditEvents (read and search; admins only, the server decides),
/// with DICOM PS3.15 A.5 / IHE ATNA event types for DICOMweb requests and the FHIR RESTful
/// interaction types for FHIR requests. One AuditEvent per recorded request; its id is the
/// record's.
enum AuditEvents {
    static let dcm = "http://dicom.nema.org/resources/ontology/DCM"

    /// The event type, the CRUDE action and, for FHIR requests, the interaction subtype, from
    /// the request's method and path.
    static func classify(_ record: AccessRecord) -> (type: JSONValue, action: String, subtype: JSONValue?) {
        let path = record.path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? record.path
        let components = path.split(separator: "/").map(String.init)
        func coding(_ system: String, _ code: String, _ display: String) -> JSONValue {
            .object(["system": .string(system), "code": .string(code), "display": .string(display)])
        }
        if components.first == "fhir" {
            let rest = coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "RESTful Operation")
            let interaction: (String, String) = switch (record.method, components.count) {
            case ("GET", 2): ("search-type", "E")
            case ("GET", _): ("read", "R")
            case ("POST", _): ("create", "C")
            case ("PUT", _): ("update", "U")
            case ("DELETE", _): ("delete", "D")
            default: ("operation", "E")
            }
            return (rest, interaction.1, coding("http://hl7.org/fhir/restful-interaction", interaction.0, interaction.0))
        }
        if components.first == "audit" { return (coding(dcm, "110101", "Audit Log Used"), "R", nil) }
        if components.first == "ai" { return (coding(dcm, "110100", "Application Activity"), record.method == "GET" ? "R" : "E", nil) }
        switch record.method {
        case "POST": return (coding(dcm, "110104", "DICOM Instances Transferred"), "C", nil)
        case "DELETE": return (coding(dcm, "110105", "DICOM Study Deleted"), "D", nil)
        default:
            if let last = components.last, ["studies", "series", "instances"].contains(last) {
                return (coding(dcm, "110112", "Query"), "E", nil)
            }
            return (coding(dcm, "110104", "DICOM Instances Transferred"), "R", nil)
        }
    }

    static func resource(_ record: AccessRecord) -> JSONValue {
        let (type, action, subtype) = classify(record)
        // R4 outcome: 0 success, 4 minor failure (the client's), 8 serious failure (the server's).
        let outcome = record.status < 400 ? "0" : record.status < 500 ? "4" : "8"
        var agent: [String: JSONValue] = [
            "requestor": .bool(true),
            "who": .object(["display": .string(record.principal ?? "anonymous")]),
        ]
        if let principal = record.principal { agent["name"] = .string(principal) }
        if !record.roles.isEmpty { agent["role"] = .array(record.roles.map { .object(["text": .string($0)]) }) }
        if let address = record.clientAddress {
            // Type 2: an IP address.
            agent["network"] = .object(["address": .string(address), "type": .string("2")])
        }
        var entities: [JSONValue] = record.studies.map { study in
            .object([
                "what": .object(["reference": .string("ImagingStudy/\(study)")]),
                "type": .object(["system": .string("http://terminology.hl7.org/CodeSystem/audit-entity-type"), "code": .string("2"),
                                 "display": .string("System Object")]),
                "name": .string(study),
            ])
        }
        // The request itself, as the query entity of a search (base64 as R4 requires).
        entities.append(.object([
            "type": .object(["system": .string("http://terminology.hl7.org/CodeSystem/audit-entity-type"), "code": .string("2"),
                             "display": .string("System Object")]),
            "role": .object(["system": .string("http://terminology.hl7.org/CodeSystem/object-role"), "code": .string("24"),
                             "display": .string("Query")]),
            "description": .string("\(record.method) \(record.path) → \(record.status), \(record.bytes) bytes"),
            "query": .string(Data("\(record.method) \(record.path)".utf8).base64EncodedString()),
        ]))
        var resource: [String: JSONValue] = [
            "resourceType": .string("AuditEvent"),
            "id": .string(String(record.id)),
            "type": type,
            "action": .string(action),
            "recorded": .string(Self.instant(record.time)),
            "outcome": .string(outcome),
            "agent": .array([.object(agent)]),
            "source": .object([
                "observer": .object(["display": .string("MiniVNA")]),
                "type": .array([.object(["system": .string("http://terminology.hl7.org/CodeSystem/security-source-type"),
                                         "code": .string("4"), "display": .string("Application Server")])]),
            ]),
            "entity": .array(entities),
        ]
        if let subtype { resource["subtype"] = .array([subtype]) }
        if record.status >= 400 { resource["outcomeDesc"] = .string("HTTP \(record.status)") }
        return .object(resource)
    }

    static func instant(_ time: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: time))
    }

    /// `date` (with ge/gt/le/lt/eq prefixes, a day or an instant), `agent-name`, `address`,
    /// `entity` (ImagingStudy/UID or UID), `outcome`.
    static func filter(_ query: SearchQuery) throws -> (filter: AccessRecordFilter, outcomes: Set<String>?) {
        var filter = AccessRecordFilter()
        var outcomes: Set<String>?
        for (name, value) in query.parameters {
            switch name {
            case "agent-name": filter.principal = value
            case "entity":
                filter.studyInstanceUID = value.hasPrefix("ImagingStudy/") ? String(value.dropFirst("ImagingStudy/".count)) : value
            case "date":
                let (prefix, start, end) = try dateBounds(value)
                switch prefix {
                case "ge": filter.from = max(filter.from ?? start, start)
                case "gt": filter.from = max(filter.from ?? end, end)
                case "le": filter.to = min(filter.to ?? end, end)
                case "lt": filter.to = min(filter.to ?? start, start)
                default:
                    filter.from = max(filter.from ?? start, start)
                    filter.to = min(filter.to ?? end, end)
                }
            case "outcome": outcomes = Set(value.split(separator: ",").map(String.init))
            default: break
            }
        }
        return (filter, outcomes)
    }

    /// A date search value: its prefix and the seconds its day or instant covers.
    static func dateBounds(_ value: String) throws -> (prefix: String, start: Double, end: Double) {
        var text = value
        var prefix = "eq"
        if let first = text.first, first.isLetter {
            prefix = String(text.prefix(2))
            text = String(text.dropFirst(2))
        }
        guard ["eq", "ge", "gt", "le", "lt"].contains(prefix) else {
            throw FHIRError(.badRequest, "invalid", "date prefix \(prefix) is not supported (eq, ge, gt, le, lt)")
        }
        let instant = ISO8601DateFormatter()
        if let date = instant.date(from: text) { return (prefix, date.timeIntervalSince1970, date.timeIntervalSince1970) }
        instant.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = instant.date(from: text) { return (prefix, date.timeIntervalSince1970, date.timeIntervalSince1970) }
        let day = DateFormatter()
        day.locale = Locale(identifier: "en_US_POSIX")
        day.timeZone = TimeZone(identifier: "UTC")
        day.dateFormat = "yyyy-MM-dd"
        guard let date = day.date(from: text) else {
            throw FHIRError(.badRequest, "invalid", "date=\(value) is not a FHIR date (YYYY-MM-DD) or instant")
        }
        return (prefix, date.timeIntervalSince1970, date.timeIntervalSince1970 + 86_400 - 0.001)
    }
}

extension FHIRService {
    func auditEvent(id: String) async throws -> JSONValue {
        guard let number = Int64(id) else { throw FHIRError(.notFound, "not-found", "AuditEvent/\(id) does not exist") }
        var filter = AccessRecordFilter()
        filter.id = number
        guard let record = try await archive.accessRecords(filter, limit: 1, offset: 0).records.first else {
            throw FHIRError(.notFound, "not-found", "AuditEvent/\(id) does not exist")
        }
        return AuditEvents.resource(record)
    }

    func searchAuditEvents(_ query: SearchQuery, limit: Int, offset: Int) async throws -> (total: Int, matches: [JSONValue]) {
        let (filter, outcomes) = try AuditEvents.filter(query)
        var filtered = filter
        if let outcomes {
            // Outcome codes as status bounds: 0 (< 400), 4 (4xx), 8 (5xx); one at a time.
            guard outcomes.count == 1, let outcome = outcomes.first, ["0", "4", "8"].contains(outcome) else {
                throw FHIRError(.badRequest, "not-supported", "outcome takes one of 0, 4, 8")
            }
            switch outcome {
            case "0": filtered.maximumStatus = 399
            case "4": filtered.minimumStatus = 400; filtered.maximumStatus = 499
            default: filtered.minimumStatus = 500
            }
        }
        let result = try await archive.accessRecords(filtered, limit: limit, offset: offset)
        return (result.total, result.records.map(AuditEvents.resource))
    }
}
