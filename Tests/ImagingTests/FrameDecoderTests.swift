import DICOM
import Foundation
@testable import Imaging
import Testing

/// pydicom's and pydicom-data's files (installed by pip), found through Python.
enum TestFiles {
    static func path(_ name: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "from pydicom.data import get_testdata_file as g; print(g('\(name)') or '')"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let path = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, !path.isEmpty else {
            throw CodecError(.unsupported, "test file \(name) not found: pip install pydicom pydicom-data")
        }
        return path
    }

    /// Every frame of a file, decoded (compressed) or as stored (native).
    static func frames(_ name: String) throws -> (frames: [DecodedFrame], pixels: PixelDescription) {
        let path = try path(name)
        let file = try Part10Reader.read(path: path, options: ReadOptions(deferValuesLongerThan: 0))
        let pixels = try PixelDescription(file.dataSet)
        let index = try FrameIndex(file)
        let frames = try (0..<index.numberOfFrames).map { i in
            let bytes = try index.bytes(ofFrame: i, path: path)
            return index.isEncapsulated
                ? try FrameDecoder.decode(bytes, transferSyntaxUID: file.transferSyntaxUID, pixels)
                : DecodedFrame(bytes: bytes, photometricInterpretation: pixels.photometricInterpretation)
        }
        return (frames, pixels)
    }
}

@Suite struct FrameDecoderTests {
    /// Lossless pairs: the compressed file decodes to exactly the uncompressed original.
    @Test(arguments: [
        ("RG1_J2KR.dcm", "RG1_UNCR.dcm"), ("MR2_J2KR.dcm", "MR2_UNCR.dcm"), ("US1_J2KR.dcm", "US1_UNCR.dcm"),
        ("SC_rgb_rle.dcm", "SC_rgb.dcm"), ("MR_small_RLE.dcm", "MR_small.dcm"), ("emri_small_RLE.dcm", "emri_small.dcm"),
        ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm"), ("SC_rgb_rle_16bit.dcm", "SC_rgb_16bit.dcm"),
    ])
    func losslessDecodingEqualsTheUncompressedOriginal(compressed: String, original: String) throws {
        let (decoded, _) = try TestFiles.frames(compressed)
        let (reference, pixels) = try TestFiles.frames(original)
        #expect(decoded.count == reference.count)
        for (index, (a, b)) in zip(decoded, reference).enumerated() {
            #expect(a.bytes.count == pixels.frameLength, "frame \(index + 1)")
            #expect(a.bytes == b.bytes, "\(compressed) frame \(index + 1) differs from \(original)")
        }
    }

    /// JPEG baseline is lossy: within a small error of the uncompressed original (pydicom's
    /// SC_rgb_jpeg_dcmtk is SC_rgb compressed by DCMTK), and reported as RGB after YCbCr.
    @Test func jpegBaselineDecodesCloseToTheOriginal() throws {
        let (decoded, _) = try TestFiles.frames("SC_rgb_jpeg_dcmtk.dcm")
        let (reference, _) = try TestFiles.frames("SC_rgb.dcm")
        #expect(decoded[0].photometricInterpretation == "RGB")
        #expect(decoded[0].bytes.count == reference[0].bytes.count)
        let worst = zip(decoded[0].bytes, reference[0].bytes).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 16, "largest sample error \(worst)")
    }

    @Test func damagedStreamsFailWithACodecError() throws {
        let pixels = PixelDescription(rows: 8, columns: 8, samplesPerPixel: 1, bitsAllocated: 8, bitsStored: 8,
                                      pixelRepresentation: 0, photometricInterpretation: "MONOCHROME2", planarConfiguration: 0)
        let garbage: [UInt8] = Array(repeating: 0x5A, count: 200)
        for syntax in ["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80"] {
            #expect(throws: CodecError.self) { try FrameDecoder.decode(garbage, transferSyntaxUID: syntax, pixels) }
        }
    }
}

@Suite struct EncoderTests {
    /// Encode → decode gives back every sample (lossless), for 8/16-bit, signed, RGB, multi-frame.
    @Test(arguments: ["SC_rgb.dcm", "MR_small.dcm", "emri_small.dcm", "US1_UNCR.dcm", "SC_rgb_16bit.dcm"])
    func losslessRoundTrips(name: String) throws {
        let (frames, pixels) = try TestFiles.frames(name)
        for frame in frames.prefix(3) {
            let rle = try RLEEncoder.encode(frame.bytes, pixels)
            #expect(try RLEDecoder.decode(rle, pixels).bytes == frame.bytes, "RLE \(name)")
            let j2k = try JPEG2000Encoder.encodeLossless(frame.bytes, pixels)
            #expect(j2k.count < frame.bytes.count * 2)
            var described = pixels
            if pixels.samplesPerPixel == 3 { described.photometricInterpretation = "YBR_RCT" }
            let decoded = try JPEG2000Decoder.decode(j2k, described)
            #expect(decoded.bytes == frame.bytes, "JPEG 2000 \(name)")
        }
    }

    @Test func packBitsUsesRunsAndLiterals() {
        var out: [UInt8] = []
        RLEEncoder.packBits([7, 7, 7, 7, 1, 2, 3, 9, 9], into: &out)
        #expect(out == [0xFD, 7, 0x02, 1, 2, 3, 0xFF, 9])
    }
}
