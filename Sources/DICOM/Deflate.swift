/// Inflates the zlib "deflate" stream of the Deflated Explicit VR Little Endian transfer syntax.
///
/// The DICOM module imports only Foundation, so it does not link zlib itself: the `Imaging`
/// module supplies `ZlibDeflate`, and callers pass it in `ReadOptions.inflater`.
public protocol DeflateDecoding: Sendable {
    /// Inflates raw deflate data (RFC 1951, no zlib or gzip header), as PS3.5 §A.5 specifies.
    func inflate(_ compressed: UnsafeRawBufferPointer) throws -> [UInt8]
}

/// The other direction, for writers that produce the deflated transfer syntax.
public protocol DeflateEncoding: Sendable {
    func deflate(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8]
}
