import DICOM

/// One stored instance opened for retrieval of its pixels: each frame as stored, as native
/// samples or in another transfer syntax, a frame rendered for display, or the whole instance
/// re-encoded. The server opens it from a path with the archive's read options, negotiates the
/// representation and streams what this gives; every decode, encode and render chain is here,
/// so the routes hold none.
public struct InstancePixels: Sendable {
    public let file: Part10File
    /// Where deferred values are read from while the instance is in use (a path that keeps naming
    /// the same file, e.g. `/dev/fd/N` of a descriptor the caller holds).
    public let path: String
    private let index: Result<FrameIndex, DICOMParseError>

    /// Reads the file at `path`.
    /// - Parameter options: with every binary value deferred and the inflater for the Deflated
    ///   syntax (the archive's `readOptions(.pixels)`); a deflated file's values are held in
    ///   memory instead, which `FrameIndex` serves as well.
    public init(path: String, options: ReadOptions) throws {
        self.init(try Part10Reader.read(path: path, options: options), path: path)
    }

    /// - Parameter file: read from `path` with deferred values (`deferValuesLongerThan: 0`).
    public init(_ file: Part10File, path: String) {
        self.file = file
        self.path = path
        do {
            index = .success(try FrameIndex(file))
        } catch let error as DICOMParseError {
            index = .failure(error)
        } catch {
            index = .failure(DICOMParseError(.invalidValue, "\(error)", tag: .pixelData))
        }
    }

    public var transferSyntaxUID: String { file.transferSyntaxUID }

    /// Where each frame is; a `DICOMParseError` when the instance has no frames (no Pixel Data,
    /// or Pixel Data that cannot be cut into frames).
    public func frames() throws -> FrameIndex { try index.get() }

    /// Frame `number` (0-based) in `syntax`: native little-endian samples for a native syntax
    /// MiniVNA writes (Explicit or Implicit VR Little Endian), one compressed frame otherwise,
    /// decoded from the stored syntax and encoded as needed (`CodecRegistry`).
    public func frame(_ number: Int, in syntax: String) throws -> [UInt8] {
        let index = try frames()
        guard index.frames.indices.contains(number) else {
            throw CodecError(.unsupported, "frame \(number + 1) is out of range: the instance has \(index.numberOfFrames)")
        }
        let stored = try index.bytes(ofFrame: number, path: path)
        guard let target = CodecRegistry.codec(for: syntax), target.canEncode else {
            throw CodecError(.unsupported, "frames cannot be sent as \(TransferSyntax(uid: syntax)?.name ?? syntax)")
        }
        let decode = index.isEncapsulated
        if decode ? syntax == transferSyntaxUID : target.isNative { return stored }
        if decode, !CodecRegistry.canDecode(transferSyntaxUID) {
            throw CodecError(.unsupported, "decoding \(file.transferSyntax?.name ?? transferSyntaxUID) is not supported")
        }
        return try FrameConversion.convert(stored, pixels: try PixelDescription(file.dataSet), sourceSyntax: transferSyntaxUID,
                                           decode: decode, encode: target.isCompressed ? syntax : nil).bytes
    }

    /// Frame `number` (0-based) rendered for display (`Renderer`): decoded first when stored
    /// compressed, through the palette for PALETTE COLOR.
    public func render(frame number: Int, options: RenderOptions) throws -> RenderedImage {
        let index = try frames()
        guard index.frames.indices.contains(number) else {
            throw CodecError(.unsupported, "frame \(number + 1) is out of range: the instance has \(index.numberOfFrames)")
        }
        let pixels = try PixelDescription(file.dataSet)
        var native = try index.bytes(ofFrame: number, path: path)
        var photometric = pixels.photometricInterpretation
        if index.isEncapsulated {
            let decoded = try FrameDecoder.decode(native, transferSyntaxUID: transferSyntaxUID, pixels)
            native = decoded.bytes
            photometric = decoded.photometricInterpretation
        }
        let palette = photometric == "PALETTE COLOR" ? try PaletteColorLUT(file.dataSet, load: file.load) : nil
        return try Renderer.render(frame: native, pixels: pixels, photometricInterpretation: photometric,
                                   planar: !index.isEncapsulated && pixels.planarConfiguration == 1,
                                   dataSet: file.dataSet, options: options, palette: palette)
    }

    /// The whole instance re-encoded into `syntax`, planned (first frame converted) and ready to
    /// be written piece by piece (see `InstanceTranscoding`). Works for instances without Pixel
    /// Data too.
    public func transcoding(to syntax: String) throws -> InstanceTranscoding {
        try InstanceTranscoding(file, path: path, to: syntax)
    }
}
