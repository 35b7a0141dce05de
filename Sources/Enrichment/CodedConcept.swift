/// A coded concept as DICOM SR writes it (Code Value, Coding Scheme Designator, Code Meaning)
/// and as FHIR writes it (a Coding: system, code, display). The designators MiniVNA uses are
/// standard ones only: the SR validator refuses private (`99…`) and retired (`SRT`) schemes.
public struct CodedConcept: Sendable, Hashable, Codable {
    /// Coding Scheme Designator: `DCM`, `SCT`, `LN`, `UCUM`.
    public var scheme: String
    public var code: String
    public var meaning: String

    public init(scheme: String, code: String, meaning: String) {
        self.scheme = scheme
        self.code = code
        self.meaning = meaning
    }

    public static func dcm(_ code: String, _ meaning: String) -> CodedConcept { .init(scheme: "DCM", code: code, meaning: meaning) }
    public static func sct(_ code: String, _ meaning: String) -> CodedConcept { .init(scheme: "SCT", code: code, meaning: meaning) }
    public static func ucum(_ code: String, _ meaning: String) -> CodedConcept { .init(scheme: "UCUM", code: code, meaning: meaning) }

    /// The FHIR code system URI of the designator (PS3.16 Table 8-1, FHIR terminology).
    public var fhirSystem: String {
        switch scheme {
        case "DCM": return "http://dicom.nema.org/resources/ontology/DCM"
        case "SCT": return "http://snomed.info/sct"
        case "LN": return "http://loinc.org"
        case "UCUM": return "http://unitsofmeasure.org"
        case "RFC5646": return "urn:ietf:bcp:47"
        default: return "urn:dicom:scheme:\(scheme)"
        }
    }
}

/// The fixed codes of the Measurement Report (PS3.16 TID 1500, 1501, 1600, 4019, 1204) and of
/// IHE AI Results, in one place so the SR builder, the validator and the FHIR mapping agree.
public enum SRCodes {
    public static let imagingMeasurementReport = CodedConcept.dcm("126000", "Imaging Measurement Report")
    public static let languageOfContent = CodedConcept.dcm("121049", "Language of Content Item and Descendants")
    public static let englishUS = CodedConcept(scheme: "RFC5646", code: "en-US", meaning: "English (United States)")
    public static let observerType = CodedConcept.dcm("121005", "Observer Type")
    public static let device = CodedConcept.dcm("121007", "Device")
    public static let deviceObserverUID = CodedConcept.dcm("121012", "Device Observer UID")
    public static let deviceObserverName = CodedConcept.dcm("121013", "Device Observer Name")
    public static let deviceObserverManufacturer = CodedConcept.dcm("121014", "Device Observer Manufacturer")
    public static let deviceObserverModelName = CodedConcept.dcm("121015", "Device Observer Model Name")
    public static let procedureReported = CodedConcept.dcm("121058", "Procedure reported")
    public static let imageLibrary = CodedConcept.dcm("111028", "Image Library")
    public static let imageLibraryGroup = CodedConcept.dcm("126200", "Image Library Group")
    public static let modality = CodedConcept.dcm("121139", "Modality")
    public static let imagingMeasurements = CodedConcept.dcm("126010", "Imaging Measurements")
    public static let measurementGroup = CodedConcept.dcm("125007", "Measurement Group")
    public static let trackingIdentifier = CodedConcept.dcm("112039", "Tracking Identifier")
    public static let trackingUniqueIdentifier = CodedConcept.dcm("112040", "Tracking Unique Identifier")
    public static let finding = CodedConcept.dcm("121071", "Finding")
    public static let findingSite = CodedConcept.sct("363698007", "Finding Site")
    public static let algorithmName = CodedConcept.dcm("111001", "Algorithm Name")
    public static let algorithmVersion = CodedConcept.dcm("111003", "Algorithm Version")
    public static let sourceOfMeasurement = CodedConcept.dcm("121112", "Source of Measurement")
    public static let source = CodedConcept.sct("260753009", "Source")
    /// IHE AIR (Rad TF-3 §6.5.3): the Purpose of Reference of an algorithm's item in the
    /// header's Contributing Equipment Sequence. IHE's own scheme, outside the content tree
    /// (where the validator admits standard schemes only).
    public static let processingAlgorithm = CodedConcept(scheme: "99IHE", code: "1630", meaning: "Processing Algorithm")
}
