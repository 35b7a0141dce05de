import DICOM

/// The optional storage policy "compress on ingest": uncompressed images are stored as JPEG 2000
/// lossless (`TransferSyntax.jpeg2000Lossless`), written frame by frame. Same SOP Instance UID; decoding
/// gives back the received sample values exactly (RGB is stored with the reversible colour
/// transform, YBR_RCT). Files it cannot keep bit for bit are stored as received: samples with
/// bits set above Bits Stored (overlays in unused bits, sloppy modalities) would lose them, as
/// JPEG 2000 codes Bits Stored bits.
public struct JPEG2000LosslessStorage: Part10Transcoding {
    public let name = "jpeg2000-lossless"

    public init() {}

    public func transcode(_ file: Part10File, path: String, write: ([UInt8]) throws -> Void) throws -> Bool {
        guard CodecRegistry.isNative(file.transferSyntaxUID), let element = file.dataSet[.pixelData],
              case .bytes(let value) = element.value, value.count > 0,
              let pixels = try? PixelDescription(file.dataSet),
              // Native YBR_FULL_422 would have to change layout to be encoded: kept as received.
              pixels.photometricInterpretation != "YBR_FULL_422",
              let index = try? FrameIndex(file), !index.isEncapsulated,
              try Self.samplesFitBitsStored(index, pixels, path: path) else { return false }
        try InstanceTranscoding(file, path: path, to: TransferSyntax.jpeg2000Lossless.uid).write(to: write)
        return true
    }

    /// Whether every sample is what Bits Stored bits say (unsigned: no higher bit set; signed:
    /// the higher bits repeat the sign), i.e. what JPEG 2000 keeps is all there is.
    static func samplesFitBitsStored(_ index: FrameIndex, _ pixels: PixelDescription, path: String) throws -> Bool {
        let bits = pixels.bitsStored
        guard bits < pixels.bitsAllocated else { return pixels.bitsStored == pixels.bitsAllocated }
        let signed = pixels.pixelRepresentation == 1
        for frame in 0..<index.numberOfFrames {
            let bytes = try index.bytes(ofFrame: frame, path: path)
            let fits = bytes.withUnsafeBytes { raw -> Bool in
                let count = pixels.bytesPerSample == 2 ? raw.count / 2 : raw.count
                for i in 0..<count {
                    let sample = pixels.bytesPerSample == 2
                        ? Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) : Int(raw[i])
                    let high = sample >> (bits - 1)   // the sign bit and everything above it
                    let allOnes = (1 << (pixels.bitsAllocated - bits + 1)) - 1
                    if signed ? (high != 0 && high != allOnes) : (sample >> bits != 0) { return false }
                }
                return true
            }
            if !fits { return false }
        }
        return true
    }
}
