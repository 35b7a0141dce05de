/// Re-encodes a Part 10 file into another transfer syntax before it is stored: the archive's
/// storage policy (Imaging's JPEG 2000 lossless compression implements it; the archive only
/// knows this protocol, as it knows `DeflateDecoding`).
public protocol Part10Transcoding: Sendable {
    /// Short name of the policy, for logs and errors.
    var name: String { get }
    /// The file in the policy's transfer syntax as Part 10 bytes, or nil when it is better stored
    /// as received (already compressed, no pixel data, a layout the policy does not encode).
    /// - Parameter file: read from `path` (large values may still be in the file).
    func transcode(_ file: Part10File, path: String) throws -> [UInt8]?
}
