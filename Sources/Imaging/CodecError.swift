/// Why a codec could not encode or decode, with the codec's own detail.
public struct CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case zlib, rle, jpeg2000, jpeg
        /// A transfer syntax or pixel layout this build cannot decode.
        case unsupported
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }
}
