import DICOM
import Foundation

/// The attributes the index keeps as columns (what QIDO matches on and returns), taken from an
/// instance's header. Everything else stays in the file.
public struct InstanceAttributes: Sendable, Hashable {
    // Patient
    public var patientID: String
    public var patientName: String
    public var patientBirthDate: String
    public var patientSex: String
    // Study
    public var studyInstanceUID: String
    public var studyDate: String
    public var studyTime: String
    public var accessionNumber: String
    public var studyID: String
    public var studyDescription: String
    public var referringPhysicianName: String
    // Series
    public var seriesInstanceUID: String
    public var modality: String
    public var seriesNumber: Int?
    public var seriesDescription: String
    public var seriesDate: String
    public var seriesTime: String
    public var bodyPartExamined: String
    public var performedProcedureStepStartDate: String
    public var performedProcedureStepStartTime: String
    // Instance
    public var sopInstanceUID: String
    public var sopClassUID: String
    public var instanceNumber: Int?
    public var rows: Int?
    public var columns: Int?
    public var bitsAllocated: Int?
    public var numberOfFrames: Int?
    /// The Specific Character Set, kept so text columns can be returned with their meaning.
    public var specificCharacterSet: String

    /// Extracts and validates: SOP Class/Instance, Study and Series UIDs must be present and
    /// well-formed (PS3.5 §9.1).
    public init(_ dataSet: DataSet) throws {
        func text(_ tag: Tag) -> String { dataSet.strings(tag)?.joined(separator: "\\") ?? "" }
        func uid(_ tag: Tag, _ name: String) throws -> String {
            guard let value = dataSet.string(tag), !value.isEmpty else {
                throw ArchiveError(.invalidInstance, "\(name) \(tag) is missing")
            }
            guard UID.isValid(value) else {
                throw ArchiveError(.invalidInstance, "\(name) \(tag) \"\(value)\" is not a valid UID", subject: value)
            }
            return value
        }
        sopClassUID = try uid(.sopClassUID, "SOP Class UID")
        sopInstanceUID = try uid(.sopInstanceUID, "SOP Instance UID")
        studyInstanceUID = try uid(.studyInstanceUID, "Study Instance UID")
        seriesInstanceUID = try uid(.seriesInstanceUID, "Series Instance UID")
        patientID = text(.patientID)
        patientName = text(.patientName)
        patientBirthDate = text(.patientBirthDate)
        patientSex = text(.patientSex)
        studyDate = text(.studyDate)
        studyTime = text(.studyTime)
        accessionNumber = text(.accessionNumber)
        studyID = text(.studyID)
        studyDescription = text(.studyDescription)
        referringPhysicianName = text(.referringPhysicianName)
        modality = text(.modality)
        seriesNumber = dataSet.int(.seriesNumber)
        seriesDescription = text(.seriesDescription)
        seriesDate = text(.seriesDate)
        seriesTime = text(.seriesTime)
        bodyPartExamined = text(.bodyPartExamined)
        performedProcedureStepStartDate = text(.performedProcedureStepStartDate)
        performedProcedureStepStartTime = text(.performedProcedureStepStartTime)
        instanceNumber = dataSet.int(.instanceNumber)
        rows = dataSet.int(.rows)
        columns = dataSet.int(.columns)
        bitsAllocated = dataSet.int(.bitsAllocated)
        numberOfFrames = dataSet.int(.numberOfFrames)
        specificCharacterSet = dataSet.characterSet.description
    }
}

/// Person Name normalisation for fuzzy matching: case and accents folded, components split.
public enum NameNormalization {
    /// "Müller^Jürgen=..." → " MULLER JURGEN " (alphabetic group; every component space-delimited,
    /// with a leading and trailing space so `LIKE '% X%'` matches a component prefix).
    public static func fuzzyKey(_ name: String) -> String {
        let alphabetic = name.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let folded = fold(alphabetic)
        let words = folded.split(whereSeparator: { $0 == "^" || $0 == " " || $0 == "," }).map(String.init)
        return " " + words.joined(separator: " ") + " "
    }

    /// Case folded, accents kept: what case-insensitive (not fuzzy) PN matching compares.
    public static func caseFolded(_ text: String) -> String {
        text.lowercased()
    }

    public static func fold(_ text: String) -> String {
        var folded = text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
        // Letters with a stroke or ligatures do not decompose, so diacritic folding keeps them.
        if folded.unicodeScalars.contains(where: { $0.value >= 0x80 }) {
            folded = String(folded.flatMap { Self.undecomposable[$0] ?? String($0) })
        }
        return folded.uppercased()
    }

    private static let undecomposable: [Character: String] = [
        "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ŀ": "l", "ŧ": "t", "ß": "ss", "æ": "ae", "œ": "oe",
        "þ": "th", "ð": "d",
    ]
}
