import DICOM

/// The Image Pixel attributes a decoder needs (PS3.3 C.7.6.3), read from a dataset.
public struct PixelDescription: Sendable, Hashable {
    public var rows: Int
    public var columns: Int
    public var samplesPerPixel: Int
    public var bitsAllocated: Int
    public var bitsStored: Int
    public var pixelRepresentation: Int
    public var photometricInterpretation: String
    public var planarConfiguration: Int

    public init(rows: Int, columns: Int, samplesPerPixel: Int, bitsAllocated: Int, bitsStored: Int,
                pixelRepresentation: Int, photometricInterpretation: String, planarConfiguration: Int) {
        self.rows = rows
        self.columns = columns
        self.samplesPerPixel = samplesPerPixel
        self.bitsAllocated = bitsAllocated
        self.bitsStored = bitsStored
        self.pixelRepresentation = pixelRepresentation
        self.photometricInterpretation = photometricInterpretation
        self.planarConfiguration = planarConfiguration
    }

    public init(_ dataSet: DataSet) throws {
        guard let rows = dataSet.int(.rows), let columns = dataSet.int(.columns), rows > 0, columns > 0 else {
            throw CodecError(.unsupported, "Rows and Columns are required to decode pixel data")
        }
        // Bounded before anything is allocated from these header values (a crafted file could
        // otherwise ask for terabytes): at most 64 Mpixel per frame.
        guard rows <= 65535, columns <= 65535, rows * columns <= 64 << 20 else {
            throw CodecError(.unsupported, "\(rows)x\(columns) frames are larger than MiniVNA decodes (64 Mpixel)")
        }
        let bitsAllocated = dataSet.int(.bitsAllocated) ?? 0
        guard bitsAllocated == 8 || bitsAllocated == 16 else {
            throw CodecError(.unsupported, "decoding \(bitsAllocated)-bit pixel data is not supported (8 or 16)")
        }
        let representation = dataSet.int(.pixelRepresentation) ?? 0
        guard representation == 0 || representation == 1 else {
            throw CodecError(.unsupported, "Pixel Representation \(representation) is neither 0 (unsigned) nor 1 (signed)")
        }
        let samples = dataSet.int(.samplesPerPixel) ?? 1
        guard samples == 1 || samples == 3 else {
            throw CodecError(.unsupported, "\(samples) samples per pixel are not supported (1 or 3)")
        }
        self.init(rows: rows, columns: columns, samplesPerPixel: samples,
                  bitsAllocated: bitsAllocated, bitsStored: dataSet.int(.bitsStored) ?? bitsAllocated,
                  pixelRepresentation: representation,
                  photometricInterpretation: dataSet.string(.photometricInterpretation) ?? "MONOCHROME2",
                  planarConfiguration: dataSet.int(.planarConfiguration) ?? 0)
    }

    public var bytesPerSample: Int { bitsAllocated / 8 }
    public var frameLength: Int { rows * columns * samplesPerPixel * bytesPerSample }
}

/// One decoded frame: native little-endian samples, interleaved (planar configuration 0), and
/// the photometric interpretation they are in now (e.g. RGB after a YCbCr JPEG).
public struct DecodedFrame: Sendable {
    public let bytes: [UInt8]
    public let photometricInterpretation: String

    public init(bytes: [UInt8], photometricInterpretation: String) {
        self.bytes = bytes
        self.photometricInterpretation = photometricInterpretation
    }
}
