import DICOM

/// Why the archive refused or could not do something; the server maps each code to one status.
public struct ArchiveError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The bytes are not a DICOM instance the archive can read (PS3.18 failure 0xC000).
        case cannotUnderstand
        /// A required attribute is missing or malformed (SOP/Study/Series UIDs, transfer syntax).
        case invalidInstance
        /// STOW to /studies/{uid} with an instance of another study (failure 0xA900).
        case studyMismatch
        /// Same SOP Instance UID, different content, and the policy is to reject (warning 0xB000-style conflict).
        case conflict
        /// A query parameter is unknown, unsupported or malformed.
        case invalidQuery
        /// Nothing matches the UID(s) in the path.
        case notFound
        /// The disk or the database failed (0xA700 out of resources for STOW).
        case storage
    }

    public let code: Code
    public let reason: String
    /// The UID or query key involved, when there is one.
    public let subject: String?
    /// The instance an ingest failure is about, when its header could be read (STOW's
    /// FailedSOPSequence names it).
    public private(set) var sopClassUID: String?
    public private(set) var sopInstanceUID: String?

    /// The same error, naming the instance it is about.
    func about(sopClassUID: String?, sopInstanceUID: String?) -> ArchiveError {
        var copy = self
        copy.sopClassUID = sopClassUID
        copy.sopInstanceUID = sopInstanceUID
        return copy
    }

    public init(_ code: Code, _ reason: String, subject: String? = nil) {
        self.code = code
        self.reason = reason
        self.subject = subject
    }

    public var description: String { reason }

    init(_ parse: DICOMParseError) {
        self.init(.cannotUnderstand, "cannot read the instance: \(parse)")
    }
}
