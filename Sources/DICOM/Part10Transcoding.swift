/// Re-encodes a Part 10 file into another transfer syntax before it is stored: the archive's
/// storage policy (Imaging's JPEG 2000 lossless compression implements it; the archive only
/// knows this protocol, as it knows `DeflateDecoding`).
public protocol Part10Transcoding: Sendable {
    /// Short name of the policy, for logs and errors.
    var name: String { get }
    /// Writes the file in the policy's transfer syntax through `write`, piece by piece (so
    /// memory stays bounded whatever the file's size), and returns true; or returns false
    /// without writing anything when the file is better stored as received (already
    /// compressed, no pixel data, a layout or values the policy cannot keep exactly).
    /// - Parameter file: read from `path` with deferred values.
    func transcode(_ file: Part10File, path: String, write: ([UInt8]) throws -> Void) throws -> Bool
}
