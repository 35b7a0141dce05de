import Foundation
@testable import DICOM

/// Builds DICOM byte streams by hand, element by element, in one of the three dataset encodings,
/// so parser tests state exactly which bytes they feed the reader (as DCMTK's `tparser.cc` does).
struct ByteStreamBuilder {
    enum Encoding {
        case explicitLittle, implicitLittle, explicitBig

        var isExplicit: Bool { self != .implicitLittle }
        var isBigEndian: Bool { self == .explicitBig }
    }

    static let undefinedLength: UInt32 = 0xFFFF_FFFF

    let encoding: Encoding

    init(_ encoding: Encoding) { self.encoding = encoding }

    // MARK: Primitives

    func u16(_ v: UInt16) -> [UInt8] {
        encoding.isBigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)]
    }

    func u32(_ v: UInt32) -> [UInt8] {
        encoding.isBigEndian
            ? u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF))
            : u16(UInt16(v & 0xFFFF)) + u16(UInt16(v >> 16))
    }

    func tag(_ t: Tag) -> [UInt8] { u16(t.group) + u16(t.element) }

    /// An element header (tag, VR when explicit, length).
    func header(_ t: Tag, _ vr: VR, length: UInt32) -> [UInt8] {
        guard encoding.isExplicit else { return tag(t) + u32(length) }
        var out = tag(t) + Array(vr.rawValue.utf8)
        if vr.hasLongExplicitLength {
            out += [0, 0] + u32(length)
        } else {
            out += u16(UInt16(truncatingIfNeeded: length))
        }
        return out
    }

    /// An element with a defined length; `length` overrides the real value length (for defects).
    func element(_ t: Tag, _ vr: VR, _ value: [UInt8], length: UInt32? = nil) -> [UInt8] {
        header(t, vr, length: length ?? UInt32(value.count)) + value
    }

    /// A text element, padded to even length with the VR's padding byte.
    func text(_ t: Tag, _ vr: VR, _ string: String) -> [UInt8] {
        var value = Array(string.utf8)
        if value.count % 2 == 1 { value.append(vr.paddingByte) }
        return element(t, vr, value)
    }

    /// A text element from raw bytes (for character set tests), padded with a space.
    func rawText(_ t: Tag, _ vr: VR, _ bytes: [UInt8]) -> [UInt8] {
        var value = bytes
        if value.count % 2 == 1 { value.append(vr.paddingByte) }
        return element(t, vr, value)
    }

    /// US values in this encoding's byte order.
    func us(_ t: Tag, _ values: UInt16...) -> [UInt8] {
        element(t, .US, values.flatMap { u16($0) })
    }

    /// An item (FFFE,E000) around `body`, of defined or undefined length.
    func item(_ body: [UInt8], undefinedLength: Bool = false) -> [UInt8] {
        if undefinedLength {
            return tag(.item) + u32(Self.undefinedLength) + body + tag(.itemDelimitationItem) + u32(0)
        }
        return tag(.item) + u32(UInt32(body.count)) + body
    }

    /// A sequence of already-built items, of defined or undefined length.
    func sequence(_ t: Tag, items: [[UInt8]], undefinedLength: Bool = false) -> [UInt8] {
        let body = items.flatMap { $0 }
        if undefinedLength {
            return header(t, .SQ, length: Self.undefinedLength) + body + tag(.sequenceDelimitationItem) + u32(0)
        }
        return header(t, .SQ, length: UInt32(body.count)) + body
    }

    /// Encapsulated Pixel Data: Basic Offset Table item, fragment items, Sequence Delimitation Item.
    func encapsulatedPixelData(offsets: [UInt32], fragments: [[UInt8]]) -> [UInt8] {
        var out = header(.pixelData, .OB, length: Self.undefinedLength)
        let table = offsets.flatMap { u32($0) }
        out += tag(.item) + u32(UInt32(table.count)) + table
        for fragment in fragments {
            out += tag(.item) + u32(UInt32(fragment.count)) + fragment
        }
        out += tag(.sequenceDelimitationItem) + u32(0)
        return out
    }

    // MARK: Part 10 files

    /// Preamble, "DICM" and an Explicit VR Little Endian file meta group (with a correct group
    /// length) naming `transferSyntax`, followed by `body`.
    static func part10(
        transferSyntax: String, body: [UInt8],
        sopClassUID: String = "1.2.840.10008.5.1.4.1.1.7",
        sopInstanceUID: String = "2.25.1234567890"
    ) -> [UInt8] {
        let meta = ByteStreamBuilder(.explicitLittle)
        let metaBody = meta.element(.fileMetaInformationVersion, .OB, [0x00, 0x01])
            + meta.text(.mediaStorageSOPClassUID, .UI, sopClassUID)
            + meta.text(.mediaStorageSOPInstanceUID, .UI, sopInstanceUID)
            + meta.text(.transferSyntaxUID, .UI, transferSyntax)
            + meta.text(.implementationClassUID, .UI, "2.25.99")
        return [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
            + meta.element(.fileMetaInformationGroupLength, .UL, meta.u32(UInt32(metaBody.count)))
            + metaBody + body
    }

    /// Byte offset of the first occurrence of `needle` in `haystack`.
    static func offset(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where Array(haystack[start..<(start + needle.count)]) == needle {
            return start
        }
        return nil
    }
}

/// Paths of the committed fixtures (`Fixtures/`, see `Fixtures/README.md` for their provenance)
/// and scratch files for tests that need a real file on disk.
enum FixturePaths {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // DICOMTests
        .deletingLastPathComponent()   // Tests
        .deletingLastPathComponent()   // package root
        .appendingPathComponent("Fixtures")

    static func path(_ relative: String) -> String {
        root.appendingPathComponent(relative).path
    }

    /// Writes `bytes` to a fresh temporary file and returns its path; the caller removes it.
    static func temporaryFile(_ bytes: [UInt8], name: String = "test.dcm") throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("minivna-dicomtests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    static func removeTemporaryFile(_ path: String) {
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }
}
