import DICOM
import Foundation
@testable import Imaging
import Testing

/// The codec registry says what the codecs really do: every syntax it decodes decodes real
/// frames, every syntax it encodes round-trips the samples it claims to take and refuses the
/// others, and its loss agrees with the transfer syntax table.
@Suite struct CodecRegistryTests {
    /// A real file of each decodable compressed syntax (pydicom's test files), with the
    /// uncompressed original its frames decode to when the syntax is lossless.
    static let samples: [String: (compressed: String, original: String?)] = [
        TransferSyntax.rleLossless.uid: ("MR_small_RLE.dcm", "MR_small.dcm"),
        TransferSyntax.jpeg2000Lossless.uid: ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
        TransferSyntax.jpeg2000.uid: ("US1_J2KI.dcm", nil),
        TransferSyntax.jpegBaseline.uid: ("SC_rgb_jpeg_dcmtk.dcm", nil),
    ]

    @Test func everyDecodableSyntaxDecodesARealFrame() throws {
        #expect(!CodecRegistry.decoders.isEmpty)
        for codec in CodecRegistry.decoders {
            let sample = try #require(Self.samples[codec.uid], "no sample file for \(codec.transferSyntax.name): add one to the table")
            let path = try TestFiles.path(sample.compressed)
            let file = try Part10Reader.read(path: path, options: ReadOptions(deferValuesLongerThan: 0))
            #expect(file.transferSyntaxUID == codec.uid, "\(sample.compressed) is not \(codec.transferSyntax.name)")
            let pixels = try PixelDescription(file.dataSet)
            let index = try FrameIndex(file)
            #expect(index.isEncapsulated)
            let decoded = try codec.decode(try index.bytes(ofFrame: 0, path: path), pixels)
            #expect(decoded.bytes.count == pixels.frameLength, "\(codec.transferSyntax.name)")
            if let original = sample.original {
                #expect(decoded.bytes == (try TestFiles.frames(original)).frames[0].bytes, "\(codec.transferSyntax.name)")
            }
        }
    }

    /// A 64x64 frame of smooth samples (a ramp, what lossy codecs keep well) in `bits` bits (signed when asked), 1 or 3 samples.
    static func frame(bits: Int, signed: Bool = false, photometric: String) -> ([UInt8], PixelDescription) {
        let rows = 64, columns = 64
        let samples = photometric == "RGB" || photometric == "YBR_FULL" ? 3 : 1
        let bitsStored = bits == 8 ? 8 : 12
        var bytes: [UInt8] = []
        for i in 0..<(rows * columns) {
            for s in 0..<samples {
                var value = (i % columns) * 2 + i / columns + s * 20   // a ramp: at most 229
                if bits == 16 { value = value << 4 }
                if signed { value -= 1 << (bitsStored - 1) }
                if bits == 8 {
                    bytes.append(UInt8(truncatingIfNeeded: value))
                } else {
                    let raw = UInt16(truncatingIfNeeded: value)
                    bytes += [UInt8(raw & 0xFF), UInt8(raw >> 8)]
                }
            }
        }
        return (bytes, PixelDescription(rows: rows, columns: columns, samplesPerPixel: samples, bitsAllocated: bits,
                                        bitsStored: bitsStored, pixelRepresentation: signed ? 1 : 0,
                                        photometricInterpretation: photometric, planarConfiguration: 0))
    }

    /// The largest difference between two frames' samples (little endian, two's complement).
    static func maximumError(_ a: [UInt8], _ b: [UInt8], bits: Int, signed: Bool) -> Int {
        guard bits == 16 else {
            return zip(a, b).map { signed ? abs(Int(Int8(bitPattern: $0)) - Int(Int8(bitPattern: $1))) : abs(Int($0) - Int($1)) }.max() ?? 0
        }
        func sample(_ bytes: [UInt8], _ i: Int) -> Int {
            Int(Int16(bitPattern: UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8))
        }
        var worst = 0
        for i in stride(from: 0, to: min(a.count, b.count) - 1, by: 2) { worst = max(worst, abs(sample(a, i) - sample(b, i))) }
        return worst
    }

    @Test func everyEncoderRoundTripsTheSamplesItSaysItTakes() throws {
        #expect(!CodecRegistry.encoders.isEmpty)
        for codec in CodecRegistry.encoders {
            let samples = try #require(codec.encodableSamples)
            for bits in samples.bitsAllocated.sorted() {
                for signed in samples.signed ? [false, true] : [false] {
                    for photometric in ["MONOCHROME2", "MONOCHROME1", "RGB", "YBR_FULL"] where codec.encodablePhotometrics.contains(photometric) {
                        let (frame, pixels) = Self.frame(bits: bits, signed: signed, photometric: photometric)
                        let label = "\(codec.transferSyntax.name) \(bits)-bit\(signed ? " signed" : "") \(photometric)"
                        let (encoded, encodedPhotometric) = try codec.encode(frame, pixels)
                        #expect(!encoded.isEmpty, "\(label)")
                        // YBR_FULL comes back as RGB from JPEG baseline (its decoder converts):
                        // encoding it is what is checked.
                        guard codec.canDecode, photometric != "YBR_FULL" else { continue }
                        var described = pixels
                        described.photometricInterpretation = encodedPhotometric
                        let decoded = try codec.decode(encoded, described)
                        #expect(decoded.bytes.count == pixels.frameLength, "\(label)")
                        if codec.isLossy {
                            // Lossy, but close: within 1/8 of an 8-bit range or of the 12 bits stored.
                            #expect(Self.maximumError(decoded.bytes, frame, bits: bits, signed: signed) <= (bits == 8 ? 32 : 512), "\(label)")
                        } else {
                            #expect(decoded.bytes == frame, "\(label)")
                        }
                    }
                }
            }
        }
    }

    @Test func everyEncoderRefusesWhatItSaysItDoesNotTake() throws {
        for codec in CodecRegistry.encoders {
            let samples = try #require(codec.encodableSamples)
            for bits in [8, 16] where !samples.bitsAllocated.contains(bits) {
                let (frame, pixels) = Self.frame(bits: bits, photometric: "MONOCHROME2")
                #expect(throws: CodecError.self, "\(codec.transferSyntax.name) \(bits)-bit") { try codec.encode(frame, pixels) }
            }
            if !samples.signed {
                let (frame, pixels) = Self.frame(bits: samples.bitsAllocated.min()!, signed: true, photometric: "MONOCHROME2")
                #expect(throws: CodecError.self, "\(codec.transferSyntax.name) signed") { try codec.encode(frame, pixels) }
            }
            for photometric in ["PALETTE COLOR", "YBR_RCT", "CMYK"] where !codec.encodablePhotometrics.contains(photometric) {
                var (frame, pixels) = Self.frame(bits: samples.bitsAllocated.min()!, photometric: "MONOCHROME2")
                pixels.photometricInterpretation = photometric
                if photometric == "YBR_RCT" {
                    (frame, pixels) = Self.frame(bits: samples.bitsAllocated.min()!, photometric: "RGB")
                    pixels.photometricInterpretation = photometric
                }
                #expect(throws: CodecError.self, "\(codec.transferSyntax.name) \(photometric)") { try codec.encode(frame, pixels) }
            }
        }
        // Palette indices are compressed losslessly only.
        for codec in CodecRegistry.encoders {
            #expect(codec.encodablePhotometrics.contains("PALETTE COLOR") == !codec.isLossy, "\(codec.transferSyntax.name)")
        }
    }

    @Test func lossAgreesWithTheTransferSyntaxTable() {
        for codec in CodecRegistry.all {
            #expect(TransferSyntax.all.contains(codec.transferSyntax), "\(codec.uid) is not in TransferSyntax.all")
            #expect(codec.isNative == !codec.transferSyntax.isEncapsulated, "\(codec.transferSyntax.name)")
            if codec.isLossy { #expect(codec.transferSyntax.isLossy, "\(codec.transferSyntax.name)") }
            if codec.isCompressed, codec.canEncode, !codec.isLossy {
                #expect(!codec.transferSyntax.isLossy, "a lossless encoder for the lossy \(codec.transferSyntax.name)")
            }
            if codec.decodingIsAlwaysLossy { #expect(codec.transferSyntax.isLossy) }
            if codec.isCompressed, codec.canEncode { #expect(codec.transferSyntax.frameMediaType != nil) }
        }
        #expect(Set(CodecRegistry.all.map(\.uid)).count == CodecRegistry.all.count, "one entry per transfer syntax")
    }

    @Test func nativeSyntaxesAreReadAndOnlyLittleEndianOnesWritten() {
        let native = CodecRegistry.all.filter(\.isNative)
        #expect(Set(native.map(\.uid)) == [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid,
                                           TransferSyntax.deflatedExplicitVRLittleEndian.uid, TransferSyntax.explicitVRBigEndian.uid])
        #expect(native.allSatisfy { $0.canDecode })
        #expect(Set(native.filter(\.canEncode).map(\.uid)) == [TransferSyntax.explicitVRLittleEndian.uid,
                                                              TransferSyntax.implicitVRLittleEndian.uid])
        // A syntax without an entry is sent as stored only.
        #expect(!CodecRegistry.canDecode(TransferSyntax.jpegLSLossless.uid))
        #expect(!CodecRegistry.canEncode(TransferSyntax.jpegLSLossless.uid))
        #expect(!CodecRegistry.isNative(TransferSyntax.jpipReferenced.uid))
        #expect(CodecRegistry.codec(for: TransferSyntax.rleLossless.uid + "\0")?.uid == TransferSyntax.rleLossless.uid)
    }

    @Test func eachEncodedMediaTypeHasADefaultSyntax() {
        #expect(CodecRegistry.encodableMediaTypes == ["image/jp2", "image/jpeg", "image/dicom-rle"])
        #expect(CodecRegistry.defaultEncoding(forMediaType: "image/jp2")?.transferSyntax == .jpeg2000Lossless)
        #expect(CodecRegistry.defaultEncoding(forMediaType: "image/jpeg")?.transferSyntax == .jpegBaseline)
        #expect(CodecRegistry.defaultEncoding(forMediaType: "image/dicom-rle")?.transferSyntax == .rleLossless)
        #expect(CodecRegistry.defaultEncoding(forMediaType: "image/jls") == nil)
    }
}
