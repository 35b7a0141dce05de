// libFuzzer target for the DICOM Part 10 reader and everything that consumes its output.
//
// Built by Fuzz/run.sh in the SAME module as Sources/DICOM (`-module-name DICOM`), so there is no
// `import DICOM`: besides the public API it can reach `Part10Reader.parse(_:fileBacked:options:)`,
// which is how `read(path:)` parses a memory-mapped file (values left in the file as
// `BulkDataReference`s), without writing a temporary file per input.
//
// The contract under test: for ANY input the reader and the encoders either return or throw;
// they never trap, crash, leak or hang. Errors are expected and ignored.
//
// Per input (bounded: every step is linear-ish in the input size, and the input is at most
// `-max_len` bytes):
//   1. read(bytes:) with default options (plus a pass-through inflater, so the deflated-transfer-
//      syntax branch parses the raw remainder as its "inflated" stream)
//   2. read(bytes:) with ReadOptions.headerOnly()
//   3. parse as a file (fileBacked: true) with headerOnly() options: deferred values, whose
//      offsets are then loaded back from the input through a bounds-checked loader
// and for every successful read: DICOM JSON (no bulk-data policy), DICOM XML (with a policy, so
// BulkDataURI paths run), the typed accessors (dates/times/numbers/person names), and
// Part10Writer.write followed by reading the written bytes back.

import Foundation

/// Returns its input unchanged: lets the deflated-transfer-syntax branch run without zlib
/// (the real inflater lives in the Imaging module, which links zlib).
struct FuzzPassThroughInflater: DeflateDecoding {
    func inflate(_ compressed: UnsafeRawBufferPointer) throws -> [UInt8] { Array(compressed) }
}

/// Loads a deferred value from the input bytes exactly as `BulkDataReader.read` would from the
/// file: bounds-checked (a reference past the end is an error, not a crash), then byte-swapped.
func fuzzLoader(_ input: [UInt8]) -> @Sendable (BulkDataReference) throws -> [UInt8] {
    { reference in
        guard reference.offset >= 0, reference.length >= 0, reference.offset <= input.count,
              reference.length <= input.count - reference.offset else {
            if fuzzStrict {
                fputs("FUZZ_STRICT: deferred value \(reference) lies outside the \(input.count)-byte input\n", stderr)
                abort()
            }
            throw DICOMParseError(.truncated, "file ends before the deferred value does", offset: reference.offset)
        }
        var bytes = Array(input[reference.offset..<(reference.offset + reference.length)])
        ByteOrder.swapInPlace(&bytes, unit: reference.swapUnit)
        return bytes
    }
}

/// Touches the typed accessors a server uses on indexed attributes (cheap, recursive).
func fuzzAccessors(_ dataSet: DataSet, depth: Int = 0) {
    guard depth < 8 else { return }
    for element in dataSet.elements {
        switch element.value {
        case .sequence(let items):
            for item in items.prefix(16) { fuzzAccessors(item, depth: depth + 1) }
        case .encapsulated(let pixels):
            _ = pixels.basicOffsets
            _ = pixels.itemStreamLength
        case .bytes(.deferred):
            break
        case .bytes(.loaded(let bytes)):
            guard bytes.count <= 4096 else { continue }
            switch element.vr {
            case .DA:
                for s in dataSet.strings(element.tag) ?? [] { _ = DICOMDate(s)?.description }
            case .TM:
                for s in dataSet.strings(element.tag) ?? [] { _ = DICOMTime(s)?.description }
            case .DT:
                for s in dataSet.strings(element.tag) ?? [] { _ = DICOMDateTime(s) }
            case .DS, .FL, .FD, .OF, .OD:
                _ = NumericValue.doubles(Array(bytes), vr: element.vr)
            case .IS, .US, .SS, .UL, .SL, .SV, .UV:
                _ = dataSet.ints(element.tag)
            case .UI:
                for s in dataSet.strings(element.tag) ?? [] { _ = UID.isValid(s) }
            case .PN:
                for s in dataSet.strings(element.tag) ?? [] {
                    let name = PersonName(s)
                    for group in name.groups { _ = (group.familyName, group.givenName, group.nameSuffix) }
                }
            default:
                break
            }
        }
    }
}

/// Everything done with a successfully read file. All errors are expected and swallowed.
func fuzzConsume(_ file: Part10File, input: [UInt8], readBack: Bool) {
    let load = fuzzLoader(input)
    fuzzAccessors(file.dataSet)
    _ = try? DICOMJSONEncoder(load: load).encode([file.fileMetaInformation, file.dataSet])
    let policy = BulkDataPolicy(threshold: 64) { path in "bulk/\(path)" }
    _ = try? DICOMXMLEncoder(bulkData: policy, load: load).encode(file.dataSet)

    guard let written = try? Part10Writer.write(file.dataSet, meta: file.fileMetaInformation, load: load) else { return }
    guard readBack else { return }
    // The writer's output must always be readable; a throw here is a writer/reader disagreement,
    // not a crash, so it is only checked under FUZZ_STRICT=1 (see run.sh).
    do {
        let again = try Part10Reader.read(bytes: written)
        fuzzConsume(again, input: written, readBack: false)
        if fuzzStrict {
            // The writer's dataset encoding is canonical: reading it and writing again must be a
            // fixed point. (Only the dataset part is compared: the meta group is rebuilt and its
            // UIDs re-encoded as text, see the report on non-ASCII Media Storage UIDs.)
            let rewritten = try Part10Writer.write(again.dataSet, meta: again.fileMetaInformation)
            let a = fuzzDataSetPart(written), b = fuzzDataSetPart(rewritten)
            if a != b {
                let at = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
                fputs("FUZZ_STRICT: the dataset of write(read(written)) differs from written's at dataset byte \(at) (\(a.count) -> \(b.count) bytes)\n", stderr)
                abort()
            }
        }
    } catch {
        if fuzzStrict {
            fputs("FUZZ_STRICT: written file does not read back: \(error)\n", stderr)
            abort()
        }
    }
}

/// The bytes after the preamble, "DICM" and the meta group of a file Part10Writer wrote.
func fuzzDataSetPart(_ file: [UInt8]) -> ArraySlice<UInt8> {
    guard file.count >= 144 else { return file[...] }
    let groupLength = Int(file[140]) | Int(file[141]) << 8 | Int(file[142]) << 16 | Int(file[143]) << 24
    return file[min(file.count, 144 + groupLength)...]
}

let fuzzStrict = ProcessInfo.processInfo.environment["FUZZ_STRICT"] == "1"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    // 1. Default options (everything loaded); a pass-through inflater reaches the deflated branch.
    var options = ReadOptions()
    options.inflater = FuzzPassThroughInflater()
    if let file = try? Part10Reader.read(bytes: bytes, options: options) {
        fuzzConsume(file, input: bytes, readBack: true)
    }

    // 2. Header-only, in memory (public API exactly as callers use it).
    if let file = try? Part10Reader.read(bytes: bytes, options: .headerOnly()) {
        _ = try? DICOMJSONEncoder().encode(file.dataSet)
    }

    // 3. Header-only as a file: large values deferred, then loaded back through the references.
    let fileRead = bytes.withUnsafeBytes { buffer in
        try? Part10Reader.parse(buffer, fileBacked: true, options: .headerOnly(inflater: FuzzPassThroughInflater()))
    }
    if let file = fileRead {
        fuzzConsume(file, input: bytes, readBack: false)
        _ = try? BulkDataReader.loadAll(file.dataSet, load: fuzzLoader(bytes))
    }
    return 0
}
