/// How soon a person should look at a result: the analyzer's suggestion, which triage uses.
public enum FindingPriority: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case critical, urgent, routine

    private var rank: Int { self == .critical ? 0 : self == .urgent ? 1 : 2 }
    /// `critical < urgent < routine`: sorting puts the most pressing first.
    public static func < (lhs: FindingPriority, rhs: FindingPriority) -> Bool { lhs.rank < rhs.rank }
}

/// An evaluated image (and optionally some of its frames, 1-based as DICOM numbers them).
public struct ImageReference: Sendable, Hashable, Codable {
    public var seriesInstanceUID: String
    public var sopInstanceUID: String
    public var sopClassUID: String
    public var frames: [Int]?

    public init(seriesInstanceUID: String, sopInstanceUID: String, sopClassUID: String, frames: [Int]? = nil) {
        self.seriesInstanceUID = seriesInstanceUID
        self.sopInstanceUID = sopInstanceUID
        self.sopClassUID = sopClassUID
        self.frames = frames
    }
}

/// A numeric measurement (TID 300): a concept, a value and its UCUM unit.
public struct Measurement: Sendable, Hashable, Codable {
    public var concept: CodedConcept
    public var value: Double
    /// A UCUM unit (`CodedConcept.ucum`).
    public var unit: CodedConcept

    public init(concept: CodedConcept, value: Double, unit: CodedConcept) {
        self.concept = concept
        self.value = value
        self.unit = unit
    }
}

/// A coded answer to a coded question (TID 1501 "Qualitative Evaluations").
public struct QualitativeEvaluation: Sendable, Hashable, Codable {
    public var concept: CodedConcept
    public var value: CodedConcept

    public init(concept: CodedConcept, value: CodedConcept) {
        self.concept = concept
        self.value = value
    }
}

/// One finding of an analysis with what supports it: a TID 1501 Measurement Group in the SR, an
/// Observation with members in FHIR.
public struct MeasurementGroup: Sendable, Hashable, Codable {
    /// Human-readable and unique within the result (TID 1501 Tracking Identifier).
    public var trackingIdentifier: String
    public var finding: CodedConcept
    public var findingSite: CodedConcept?
    /// The instances (frames) the finding was made on.
    public var references: [ImageReference]
    public var measurements: [Measurement]
    public var qualitative: [QualitativeEvaluation]
    public var priority: FindingPriority
    /// 0...1, where the method has one (a classical computation has none).
    public var confidence: Double?

    public init(trackingIdentifier: String, finding: CodedConcept, findingSite: CodedConcept? = nil,
                references: [ImageReference], measurements: [Measurement] = [], qualitative: [QualitativeEvaluation] = [],
                priority: FindingPriority = .routine, confidence: Double? = nil) {
        self.trackingIdentifier = trackingIdentifier
        self.finding = finding
        self.findingSite = findingSite
        self.references = references
        self.measurements = measurements
        self.qualitative = qualitative
        self.priority = priority
        self.confidence = confidence
    }
}

/// Who made a result: the analyzer as a device (the SR's device observer, the FHIR Device, the
/// header's Contributing Equipment).
public struct AnalyzerIdentity: Sendable, Hashable, Codable {
    /// Unique among the configured analyzers; part of every job's idempotency key.
    public var name: String
    public var version: String
    public var manufacturer: String
    /// What the method is, in one sentence (honest: a classical computation says so).
    public var description: String

    public init(name: String, version: String, manufacturer: String, description: String) {
        self.name = name
        self.version = version
        self.manufacturer = manufacturer
        self.description = description
    }

    /// `name@version`, as runs and jobs name it.
    public var reference: String { "\(name)@\(version)" }
}

/// What one analysis found over a study.
public struct AnalysisResult: Sendable, Hashable {
    public var groups: [MeasurementGroup]
    /// The imaging procedure analysed (IHE AIR: Procedure Reported names it, not the
    /// algorithm); nil: derived from the modality.
    public var procedure: CodedConcept?
    /// Other DICOM objects the analysis made (a SEG from an external service), Part 10 bytes,
    /// stored through ingest beside the SR.
    public var instances: [[UInt8]]

    public init(groups: [MeasurementGroup], procedure: CodedConcept? = nil, instances: [[UInt8]] = []) {
        self.groups = groups
        self.procedure = procedure
        self.instances = instances
    }

    /// The most pressing priority among the groups.
    public var priority: FindingPriority { groups.map(\.priority).min() ?? .routine }
}
