/// Why a byte stream could not be read as DICOM, and where: the tag and byte offset involved.
public struct DICOMParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// No "DICM" prefix and no recognisable dataset at the start.
        case notDICOM
        /// The stream ends inside an element header or value.
        case truncated
        /// A length is inconsistent (odd where it cannot be, or past its container's end).
        case invalidLength
        /// Items or delimiters are where they cannot be.
        case malformedSequence
        /// Encapsulated Pixel Data is not a valid item sequence.
        case malformedEncapsulation
        /// Sequences nest deeper than the reader's limit (a guard against hostile input).
        case nestingTooDeep
        /// The file meta information is missing something required or malformed.
        case invalidFileMeta
        /// The dataset is deflated and no inflater was supplied, or inflating failed.
        case deflate
        /// The file could not be opened or read.
        case io
        /// A value is malformed for its VR (used by the JSON and XML models too).
        case invalidValue
    }

    public let code: Code
    public let reason: String
    public let tag: Tag?
    /// Byte offset in the source (the file, or the inflated stream for deflated datasets).
    public let offset: Int?

    public init(_ code: Code, _ reason: String, tag: Tag? = nil, offset: Int? = nil) {
        self.code = code
        self.reason = reason
        self.tag = tag
        self.offset = offset
    }

    public var description: String {
        var text = reason
        if let tag { text += " [tag \(tag)]" }
        if let offset { text += " [byte offset \(offset)]" }
        return text
    }
}
