import Archive
import DICOM
import Foundation

/// The FHIR R4 subset as a Swift API (the server maps HTTP onto it): ImagingStudy and Patient
/// derived from the archive index at every request (never stale), the one Endpoint, and
/// Observations kept in the archive's primary store.
public struct FHIRService: Sendable {
    public let archive: Archive
    public let observations: ObservationStore

    public static let defaultCount = 20
    public static let maximumCount = 500

    public init(archive: Archive) {
        self.archive = archive
        observations = ObservationStore(archive: archive)
    }

    /// Where the server is: `http://host/fhir` and `http://host/dicom-web`.
    public struct URLs: Sendable {
        public let fhirBase: String
        public let dicomWebBase: String
        public init(fhirBase: String, dicomWebBase: String) {
            self.fhirBase = fhirBase
            self.dicomWebBase = dicomWebBase
        }
    }

    // MARK: Read

    public func read(type: String, id: String, urls: URLs) async throws -> JSONValue {
        switch type {
        case "ImagingStudy":
            var filter = StudyFilter()
            filter.studyInstanceUIDs = [id]
            guard let study = try await archive.studySummaries(filter, limit: 1, offset: 0).studies.first else {
                throw FHIRError(.notFound, "not-found", "ImagingStudy/\(id) is not in the archive")
            }
            return Resources.imagingStudy(study, series: try await archive.seriesSummaries(studyInstanceUID: id))
        case "Patient":
            guard let patient = try await archive.patientSummaries(keys: [id], patientIDs: nil, limit: 1, offset: 0).patients.first else {
                throw FHIRError(.notFound, "not-found", "Patient/\(id) is not in the archive")
            }
            return Resources.patient(patient)
        case "Endpoint":
            guard id == Resources.endpointID else { throw FHIRError(.notFound, "not-found", "Endpoint/\(id) does not exist") }
            return Resources.endpoint(dicomWebBaseURL: urls.dicomWebBase)
        case "Observation":
            guard let stored = try await observations.read(id: id) else {
                throw FHIRError(.notFound, "not-found", "Observation/\(id) does not exist")
            }
            if stored.deleted { throw FHIRError(.gone, "deleted", "Observation/\(id) was deleted") }
            return stored.resource
        case "AuditEvent":
            return try await auditEvent(id: id)
        case "DiagnosticReport", "Device":
            guard let record = try await archive.storedResource(type: type, id: id) else {
                throw FHIRError(.notFound, "not-found", "\(type)/\(id) does not exist")
            }
            return try JSONValue.parse(Array(record.json.utf8))
        default:
            throw FHIRError(.notFound, "not-supported", "resource type \(type) is not supported (see the CapabilityStatement)")
        }
    }

    /// Current version of an Observation (for ETag / Location).
    public func observationVersion(id: String) async throws -> Int? {
        try await observations.read(id: id).map(\.versionId)
    }

    // MARK: Search

    static let common: Set<String> = ["_count", "_offset", "_summary", "_format"]
    static let searchParameters: [String: Set<String>] = [
        "ImagingStudy": ["_id", "identifier", "patient", "subject", "started", "modality", "status", "accession",
                         "_lastUpdated", "_include"],
        "Patient": ["_id", "identifier"],
        "Observation": ["_id", "subject", "patient", "derived-from", "code", "category", "status", "date", "device"],
        "DiagnosticReport": ["_id", "subject", "patient", "study", "imaging-study", "code", "status", "device", "_include"],
        "Device": ["_id", "status"],
        "AuditEvent": ["date", "agent-name", "entity", "outcome"],
    ]
    /// `_include` values of DiagnosticReport searches.
    static let diagnosticReportIncludes: Set<String> = ["DiagnosticReport:result", "DiagnosticReport:subject", "DiagnosticReport:patient",
                                                        "DiagnosticReport:imaging-study", "DiagnosticReport:device"]

    public func search(type: String, query: SearchQuery, urls: URLs) async throws -> JSONValue {
        guard let supported = Self.searchParameters[type] else {
            throw FHIRError(.notFound, "not-supported", "search on \(type) is not supported (see the CapabilityStatement)")
        }
        // Unknown parameters: ignored (lenient, the default) or an error (Prefer: handling=strict).
        var used: [(name: String, value: String)] = []
        for parameter in query.parameters {
            let base = parameter.name.split(separator: ":").first.map(String.init) ?? parameter.name
            // R4: a modifier the server does not support is an error whatever the handling.
            if parameter.name.contains(":"), supported.contains(base) || Self.common.contains(base) {
                throw FHIRError(.badRequest, "not-supported",
                    "search modifiers are not supported (\(parameter.name)); use \(base) without one")
            }
            if supported.contains(base) || Self.common.contains(base) {
                used.append(parameter)
            } else if query.strict {
                throw FHIRError(.badRequest, "not-supported",
                    "search parameter \(parameter.name) is not supported for \(type); supported: \(supported.sorted().joined(separator: ", "))")
            }
        }
        let effective = SearchQuery(parameters: used, strict: query.strict)
        let count = try Self.integer(effective.values("_count").last, name: "_count", default: Self.defaultCount)
        let offset = try Self.integer(effective.values("_offset").last, name: "_offset", default: 0)
        let summaryCount = effective.values("_summary").last == "count"
        if let summary = effective.values("_summary").last, summary != "count", summary != "false" {
            throw FHIRError(.badRequest, "not-supported", "_summary=\(summary) is not supported (only count)")
        }
        let limit = summaryCount ? 0 : min(count, Self.maximumCount)

        var total = 0
        var matches: [JSONValue] = []
        var included: [JSONValue] = []
        switch type {
        case "ImagingStudy":
            let filter = try studyFilter(effective)
            let result = try await archive.studySummaries(filter, limit: limit, offset: offset)
            total = result.total
            for study in result.studies {
                matches.append(Resources.imagingStudy(study, series: try await archive.seriesSummaries(studyInstanceUID: study.studyInstanceUID)))
            }
            for include in effective.values("_include") {
                guard include == "ImagingStudy:patient" || include == "ImagingStudy:subject" else {
                    if query.strict { throw FHIRError(.badRequest, "not-supported", "_include=\(include) is not supported") }
                    continue
                }
                var seen = Set<String>()
                for study in result.studies where seen.insert(study.patient.key).inserted {
                    included.append(Resources.patient(study.patient))
                }
            }
        case "Patient":
            var keys: [String]?
            var ids: [String]?
            for value in effective.values("_id") { keys = (keys ?? []) + value.split(separator: ",").map(String.init) }
            for value in effective.values("identifier") {
                ids = (ids ?? []) + value.split(separator: ",").map { TokenSearch(String($0)).code ?? "" }
            }
            let result = try await archive.patientSummaries(keys: keys, patientIDs: ids, limit: limit, offset: offset)
            total = result.total
            matches = result.patients.map(Resources.patient)
        case "AuditEvent":
            (total, matches) = try await searchAuditEvents(effective, limit: limit, offset: offset)
        case "DiagnosticReport", "Device":
            let result = try await archive.searchStoredResources(try storedResourceFilter(type, effective), limit: limit, offset: offset)
            total = result.total
            matches = try result.resources.map { try JSONValue.parse(Array($0.utf8)) }
            if type == "DiagnosticReport" {
                included = try await diagnosticReportIncludes(matches, effective.values("_include"), strict: query.strict)
            }
        default:
            let result = try await observations.search(try observationFilter(effective), limit: limit, offset: offset)
            total = result.total
            matches = result.resources
        }
        return Bundle.searchset(type: type, total: total, matches: matches, included: included, query: effective,
                                offset: offset, count: min(count, Self.maximumCount), summaryCount: summaryCount, base: urls.fhirBase)
    }

    static func integer(_ text: String?, name: String, default value: Int) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), number >= 0 else {
            throw FHIRError(.badRequest, "invalid", "\(name) must be a non-negative integer, not \"\(text)\"")
        }
        return number
    }

    func studyFilter(_ query: SearchQuery) throws -> StudyFilter {
        var filter = StudyFilter()
        func intersect(_ current: [String]?, _ new: [String]) -> [String] {
            guard let current else { return new }
            return current.filter(new.contains)
        }
        for (name, value) in query.parameters {
            let items = value.split(separator: ",").map(String.init)   // a comma is OR
            switch name {
            case "_id":
                filter.studyInstanceUIDs = intersect(filter.studyInstanceUIDs, items)
            case "identifier":
                var uids: [String] = [], accessions: [String] = []
                for item in items {
                    let token = TokenSearch(item)
                    guard let code = token.code else { continue }
                    if token.system == "urn:dicom:uid" || (token.system == nil && code.hasPrefix("urn:oid:")) {
                        uids.append(code.hasPrefix("urn:oid:") ? String(code.dropFirst(8)) : code)
                    } else if token.system == nil || token.system == "http://terminology.hl7.org/CodeSystem/v2-0203" {
                        accessions.append(code)
                    }
                }
                if accessions.isEmpty {
                    filter.studyInstanceUIDs = intersect(filter.studyInstanceUIDs, uids)
                } else if uids.isEmpty {
                    filter.accessionNumbers = intersect(filter.accessionNumbers, accessions)
                } else {
                    throw FHIRError(.badRequest, "not-supported", "identifier mixing Study Instance UIDs and accession numbers in one OR list is not supported")
                }
            case "patient", "subject":
                filter.patientKeys = intersect(filter.patientKeys, try referenceIDs(value, type: "Patient", parameter: name))
            case "accession":
                filter.accessionNumbers = intersect(filter.accessionNumbers, items.map { TokenSearch($0).code ?? "" })
            case "modality":
                let codes = items.compactMap { item -> String? in
                    let token = TokenSearch(item)
                    if let system = token.system, system != Resources.dicomCodeSystem { return nil }
                    return token.code
                }
                filter.modalities = intersect(filter.modalities, codes)
            case "status":
                if !items.contains("available") { filter.studyInstanceUIDs = [] }
            case "started":
                let search = try DateSearch(value, parameter: name)
                try apply(search, name: name, after: &filter.startedAfter, before: &filter.startedBefore)
            case "_lastUpdated":
                let search = try DateSearch(value, parameter: name)
                var after: (value: String, inclusive: Bool)?, before: (value: String, inclusive: Bool)?
                try apply(search, name: name, after: &after, before: &before)
                if let after { filter.updatedAfter = (Self.seconds(after.value), after.inclusive) }
                if let before { filter.updatedBefore = (Self.seconds(before.value), before.inclusive) }
            default:
                break
            }
        }
        return filter
    }

    /// Turns a date search into bounds (ne is not supported for ranges stored as one value).
    func apply(_ search: DateSearch, name: String, after: inout (value: String, inclusive: Bool)?,
               before: inout (value: String, inclusive: Bool)?) throws {
        switch search.prefix {
        case .eq: after = (search.lower, true); before = (search.upper, false)
        case .ge: after = (search.lower, true)
        case .gt: after = (search.upper, true)
        case .le: before = (search.upper, false)
        case .lt: before = (search.lower, false)
        case .ne: throw FHIRError(.badRequest, "not-supported", "\(name): the ne prefix is not supported")
        }
    }

    /// `YYYYMMDDHHMMSS` (UTC) → seconds since 1970.
    static func seconds(_ stamp: String) -> Double {
        var components = DateComponents()
        components.timeZone = TimeZone(identifier: "UTC")
        let digits = Array(stamp)
        func number(_ range: Range<Int>) -> Int { Int(String(digits[range])) ?? 0 }
        components.year = number(0..<4); components.month = max(1, number(4..<6)); components.day = max(1, number(6..<8))
        components.hour = number(8..<10); components.minute = number(10..<12); components.second = number(12..<14)
        return Calendar(identifier: .gregorian).date(from: components)?.timeIntervalSince1970 ?? 0
    }

    /// The ids of a reference parameter's comma-separated values (`Type/id` or `id`); 400 when
    /// one names another type or the list is empty.
    func referenceIDs(_ value: String, type: String, parameter: String) throws -> [String] {
        let items = value.split(separator: ",").map(String.init)
        let ids = items.compactMap { referenceID($0, type: type) }
        guard ids.count == items.count, !ids.isEmpty else {
            throw FHIRError(.badRequest, "invalid", "\(parameter) must reference \(type) (\(type)/id or id), not \"\(value)\"")
        }
        return ids
    }

    func observationFilter(_ query: SearchQuery) throws -> ObservationFilter {
        var filter = ObservationFilter()
        for (name, value) in query.parameters {
            let items = value.split(separator: ",").map(String.init)
            switch name {
            case "_id": filter.conditions.append(.ids(items))
            case "status": filter.conditions.append(.statuses(items))
            case "subject", "patient":
                filter.conditions.append(.subjects(try referenceIDs(value, type: "Patient", parameter: name).map { "Patient/\($0)" }))
            case "derived-from":
                filter.conditions.append(.derivedFromStudies(try referenceIDs(value, type: "ImagingStudy", parameter: name)))
            case "code", "category":
                filter.conditions.append(.tokens(parameter: name, anyOf: items.map { item in
                    let token = TokenSearch(item)
                    return ObservationFilter.TokenMatch(code: token.code, system: token.system, requiresNoSystem: token.requiresNoSystem)
                }))
            case "date":
                let search = try DateSearch(value, parameter: name)
                var after: (value: String, inclusive: Bool)?, before: (value: String, inclusive: Bool)?
                try apply(search, name: name, after: &after, before: &before)
                filter.conditions.append(.effective(after: after, before: before))
            case "device":
                filter.conditions.append(.devices(items.map { $0.contains("/") ? $0 : "Device/\($0)" }))
            default:
                break
            }
        }
        return filter
    }

    func storedResourceFilter(_ type: String, _ query: SearchQuery) throws -> StoredResourceFilter {
        var filter = StoredResourceFilter(resourceType: type)
        for (name, value) in query.parameters {
            let items = value.split(separator: ",").map(String.init)
            switch name {
            case "_id": filter.conditions.append(.ids(items))
            case "status": filter.conditions.append(.statuses(items))
            case "subject", "patient":
                filter.conditions.append(.subjects(try referenceIDs(value, type: "Patient", parameter: name).map { "Patient/\($0)" }))
            case "study", "imaging-study":
                filter.conditions.append(.studies(try referenceIDs(value, type: "ImagingStudy", parameter: name)))
            case "device":
                filter.conditions.append(.devices(try referenceIDs(value, type: "Device", parameter: name).map { "Device/\($0)" }))
            case "code":
                filter.conditions.append(.codes(items.compactMap { item in
                    let token = TokenSearch(item)
                    return token.code.map { (system: token.system, code: $0) }
                }))
            default:
                break
            }
        }
        return filter
    }

    /// The resources `_include` asks for beside DiagnosticReport matches, each once.
    func diagnosticReportIncludes(_ reports: [JSONValue], _ includes: [String], strict: Bool) async throws -> [JSONValue] {
        var included: [JSONValue] = []
        var seen = Set<String>()
        func add(_ reference: String?) async throws {
            guard let reference, seen.insert(reference).inserted else { return }
            let parts = reference.split(separator: "/").map(String.init)
            guard parts.count == 2, let resource = try? await read(type: parts[0], id: parts[1], urls: URLs(fhirBase: "", dicomWebBase: "")) else { return }
            included.append(resource)
        }
        for include in includes {
            guard Self.diagnosticReportIncludes.contains(include) else {
                if strict { throw FHIRError(.badRequest, "not-supported", "_include=\(include) is not supported; supported: \(Self.diagnosticReportIncludes.sorted().joined(separator: ", "))") }
                continue
            }
            for report in reports {
                switch include {
                case "DiagnosticReport:result":
                    for result in report["result"]?.arrayValue ?? [] { try await add(result["reference"]?.stringValue) }
                case "DiagnosticReport:subject", "DiagnosticReport:patient":
                    try await add(report["subject"]?["reference"]?.stringValue)
                case "DiagnosticReport:imaging-study":
                    for study in report["imagingStudy"]?.arrayValue ?? [] { try await add(study["reference"]?.stringValue) }
                default:
                    // The Device named by the report's Observations (R4's DiagnosticReport has no device element).
                    if let first = report["result"]?.arrayValue?.first?["reference"]?.stringValue,
                       let observation = try? await read(type: "Observation", id: String(first.dropFirst("Observation/".count)),
                                                         urls: URLs(fhirBase: "", dicomWebBase: "")) {
                        try await add(observation["device"]?["reference"]?.stringValue)
                    }
                }
            }
        }
        return included
    }

    // MARK: Observation writes

    /// Creates an Observation (server-assigned id). Returns the stored resource.
    public func createObservation(_ body: [UInt8]) async throws -> ObservationStore.Stored {
        let (resource, indexed) = try await validateObservation(body, id: nil)
        return try await observations.write(id: UUID().uuidString.lowercased(), resource: resource, indexed: indexed,
                                            creating: true, expectedVersion: nil)
    }

    /// Replaces an Observation (a new version); `ifMatch` is the version the client last saw.
    public func updateObservation(id: String, _ body: [UInt8], ifMatch: Int?) async throws -> ObservationStore.Stored {
        let (resource, indexed) = try await validateObservation(body, id: id)
        return try await observations.write(id: id, resource: resource, indexed: indexed, creating: false, expectedVersion: ifMatch)
    }

    public func deleteObservation(id: String) async throws {
        guard try await observations.delete(id: id) else {
            throw FHIRError(.notFound, "not-found", "Observation/\(id) does not exist")
        }
    }

    static let observationStatuses: Set<String> = ["registered", "preliminary", "final", "amended", "corrected", "cancelled",
                                                   "entered-in-error", "unknown"]

    /// Structure (400) and content (422) checks; references must resolve in this archive.
    func validateObservation(_ body: [UInt8], id: String?) async throws -> (JSONValue, ObservationStore.Indexed) {
        let json: JSONValue
        do {
            json = try JSONValue.parse(body)
        } catch {
            throw FHIRError(.badRequest, "structure", "the body is not valid JSON: \(error)")
        }
        guard case .object(let members) = json else { throw FHIRError(.badRequest, "structure", "the body must be a JSON object") }
        guard members["resourceType"]?.stringValue == "Observation" else {
            throw FHIRError(.badRequest, "invalid", "resourceType must be \"Observation\", not \(members["resourceType"]?.serialized() ?? "missing")",
                            expression: "resourceType")
        }
        if let id {
            guard let bodyID = members["id"]?.stringValue else {
                throw FHIRError(.badRequest, "required", "an update must carry the resource id (\(id))", expression: "Observation.id")
            }
            guard bodyID == id else {
                throw FHIRError(.badRequest, "invalid", "the body's id \(bodyID) differs from the URL's \(id)", expression: "Observation.id")
            }
        }
        guard let status = members["status"]?.stringValue else {
            throw FHIRError(.unprocessable, "required", "Observation.status is required", expression: "Observation.status")
        }
        guard Self.observationStatuses.contains(status) else {
            throw FHIRError(.unprocessable, "value", "Observation.status \"\(status)\" is not an ObservationStatus code",
                            expression: "Observation.status")
        }
        guard let code = members["code"]?.objectValue, code["coding"]?.arrayValue?.isEmpty == false || code["text"]?.stringValue != nil else {
            throw FHIRError(.unprocessable, "required", "Observation.code (a CodeableConcept with coding or text) is required",
                            expression: "Observation.code")
        }
        var tokens: [ObservationSearchValues.Token] = []
        func codings(_ concept: [String: JSONValue], parameter: String, path: String) throws {
            for (index, coding) in (concept["coding"]?.arrayValue ?? []).enumerated() {
                guard let object = coding.objectValue else {
                    throw FHIRError(.unprocessable, "structure", "\(path).coding[\(index)] must be an object", expression: "\(path).coding[\(index)]")
                }
                if let value = object["code"]?.stringValue {
                    tokens.append(.init(parameter: parameter, system: object["system"]?.stringValue ?? "", code: value))
                }
            }
        }
        try codings(code, parameter: "code", path: "Observation.code")
        for (index, category) in (members["category"]?.arrayValue ?? []).enumerated() {
            guard let concept = category.objectValue else {
                throw FHIRError(.unprocessable, "structure", "Observation.category[\(index)] must be a CodeableConcept",
                                expression: "Observation.category[\(index)]")
            }
            try codings(concept, parameter: "category", path: "Observation.category[\(index)]")
        }
        // subject: a Patient of this archive.
        guard let subject = members["subject"]?["reference"]?.stringValue else {
            throw FHIRError(.unprocessable, "required", "Observation.subject (a reference to a Patient) is required",
                            expression: "Observation.subject")
        }
        guard let patientKey = referenceID(subject, type: "Patient"), subject.contains("Patient/") else {
            throw FHIRError(.unprocessable, "value", "Observation.subject must reference a Patient, not \(subject)",
                            expression: "Observation.subject")
        }
        guard try await archive.patientSummaries(keys: [patientKey], patientIDs: nil, limit: 1, offset: 0).total > 0 else {
            throw FHIRError(.unprocessable, "not-found", "Observation.subject: Patient/\(patientKey) is not in this archive",
                            expression: "Observation.subject")
        }
        // derivedFrom: ImagingStudy by reference or by Study / SOP Instance UID identifier.
        var studies: [String] = []
        for (index, item) in (members["derivedFrom"]?.arrayValue ?? []).enumerated() {
            let path = "Observation.derivedFrom[\(index)]"
            if let reference = item["reference"]?.stringValue {
                guard reference.contains("ImagingStudy/"), let uid = referenceID(reference, type: "ImagingStudy") else {
                    throw FHIRError(.unprocessable, "not-supported", "\(path): only ImagingStudy references are supported, not \(reference)",
                                    expression: path)
                }
                guard try await studyExists(uid) else {
                    throw FHIRError(.unprocessable, "not-found", "\(path): ImagingStudy/\(uid) is not in this archive", expression: path)
                }
                studies.append(uid)
            } else if let identifier = item["identifier"]?.objectValue, identifier["system"]?.stringValue == "urn:dicom:uid",
                      let value = identifier["value"]?.stringValue, value.hasPrefix("urn:oid:") {
                let uid = String(value.dropFirst(8))
                if try await studyExists(uid) {
                    studies.append(uid)
                } else if let instance = try archive.storedInstance(sopInstanceUID: uid) {
                    studies.append(instance.studyInstanceUID)   // ImagingStudy.series.instance
                } else {
                    throw FHIRError(.unprocessable, "not-found", "\(path): no study or instance \(uid) in this archive", expression: path)
                }
            } else {
                throw FHIRError(.unprocessable, "structure",
                    "\(path) needs a reference (ImagingStudy/uid) or an identifier with system urn:dicom:uid", expression: path)
            }
        }
        let effective = members["effectiveDateTime"]?.stringValue ?? members["effectivePeriod"]?["start"]?.stringValue
            ?? members["effectiveInstant"]?.stringValue ?? ""
        var effectiveStamp = ""
        if !effective.isEmpty {
            guard let search = try? DateSearch(effective, parameter: "effective") else {
                throw FHIRError(.unprocessable, "value", "Observation.effective[x] \"\(effective)\" is not a FHIR dateTime",
                                expression: "Observation.effective")
            }
            effectiveStamp = search.lower
        }
        let device = members["device"]?["reference"]?.stringValue ?? ""
        return (json, ObservationStore.Indexed(status: status, subject: "Patient/\(patientKey)", effective: effectiveStamp,
                                                device: device, tokens: tokens, derivedFromStudies: studies))
    }

    func studyExists(_ uid: String) async throws -> Bool {
        var filter = StudyFilter()
        filter.studyInstanceUIDs = [uid]
        return try await archive.studySummaries(filter, limit: 0, offset: 0).total > 0
    }
}
