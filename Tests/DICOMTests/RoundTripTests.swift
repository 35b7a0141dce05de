import DICOM
import Foundation
import Imaging
import Testing

/// read → write → read yields the same dataset for every real file MiniVNA can read.
@Suite struct RoundTripTests {
    static let options = ReadOptions(inflater: ZlibDeflate())

    @Test func everyReadableRealFileSurvivesWriteAndReadBack() throws {
        let files = try RealFileCorpus.allFiles()
        #expect(files.count > 250, "corpus too small: \(files.count) files")
        var roundTripped = 0
        var failures: [String] = []
        for path in files {
            guard let original = try? Part10Reader.read(path: path, options: Self.options) else { continue }
            do {
                let syntax = original.transferSyntax.flatMap { $0.isEncapsulated ? $0.uid : nil }
                let written = try Part10Writer.write(original.dataSet, meta: original.fileMetaInformation,
                                                     transferSyntaxUID: syntax)
                let reread = try Part10Reader.read(bytes: written)
                if let difference = DataSetComparison.firstDifference(original.dataSet, reread.dataSet) {
                    failures.append("\(path): \(difference)")
                } else {
                    roundTripped += 1
                }
                #expect(reread.warnings.isEmpty, "written file of \(path) read back with warnings: \(reread.warnings)")
            } catch {
                failures.append("\(path): \(error)")
            }
        }
        print("round trip: \(roundTripped) of \(files.count) files read → written → read identically")
        #expect(failures.isEmpty, "\(failures.count) files changed in the round trip:\n\(failures.prefix(20).joined(separator: "\n"))")
        #expect(roundTripped > 240)
    }

    @Test func jsonEncodeDecodeEncodeIsStableForEveryRealFile() throws {
        var checked = 0
        var failures: [String] = []
        let encoder = DICOMJSONEncoder()
        for path in try RealFileCorpus.allFiles() {
            guard let file = try? Part10Reader.read(path: path, options: Self.options) else { continue }
            do {
                let first = try encoder.encode(file.dataSet)
                let decoded = try DICOMJSONDecoder().decode(Data(first.utf8))
                let second = try encoder.encode(decoded)
                // The decoder re-labels text as UTF-8 (ISO_IR 192): compare without (0008,0005).
                let a = Self.withoutCharacterSet(first), b = Self.withoutCharacterSet(second)
                if !a.isEqual(b) {
                    let keys = (a.allKeys as? [String] ?? []).sorted()
                    let key = keys.first { !((a[$0] as? NSObject)?.isEqual(b[$0]) ?? false) } ?? "?"
                    failures.append("\(path) at \(key): \(String(describing: a[key]).prefix(300)) → \(String(describing: b[key]).prefix(300))")
                }
                checked += 1
            } catch {
                failures.append("\(path): \(error)")
            }
        }
        print("JSON round trip: \(checked) files encoded → decoded → encoded identically")
        #expect(failures.isEmpty, "JSON round trip changed \(failures.count) files: \(failures.prefix(10))")
        #expect(checked > 240)
    }

    static func withoutCharacterSet(_ json: String) -> NSDictionary {
        var object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
        func strip(_ dict: inout [String: Any]) {
            dict.removeValue(forKey: "00080005")
            for (key, value) in dict {
                guard var attribute = value as? [String: Any], attribute["vr"] as? String == "SQ",
                      let items = attribute["Value"] as? [[String: Any]] else { continue }
                attribute["Value"] = items.map { item -> [String: Any] in var copy = item; strip(&copy); return copy }
                dict[key] = attribute
            }
        }
        strip(&object)
        return NSDictionary(dictionary: object)
    }
}

extension RoundTripTests {
    /// Compares datasets element by element and names the first difference.
    enum DataSetComparison {
        static func firstDifference(_ a: DataSet, _ b: DataSet, path: String = "") -> String? {
            let tags = Set(a.elements.map(\.tag)).union(b.elements.map(\.tag)).sorted()
            for tag in tags {
                guard let x = a[tag] else { return "\(path)\(tag) appeared" }
                guard let y = b[tag] else { return "\(path)\(tag) disappeared" }
                switch (x.value, y.value) {
                case (.sequence(let xs), .sequence(let ys)):
                    guard xs.count == ys.count else { return "\(path)\(tag) has \(xs.count) items, then \(ys.count)" }
                    for (i, (xi, yi)) in zip(xs, ys).enumerated() {
                        if let d = firstDifference(xi, yi, path: "\(path)\(tag)[\(i)].") { return d }
                    }
                case (.encapsulated(let xp), .encapsulated(let yp)):
                    // Encapsulated Pixel Data is written with VR OB as PS3.5 A.4 requires.
                    guard xp == yp else { return "\(path)\(tag) fragments differ" }
                    if x.vr != y.vr && !(y.vr == .OB && x.vr == .OW) { return "\(path)\(tag) VR \(x.vr) → \(y.vr)" }
                case (.bytes(.loaded(let xb)), .bytes(.loaded(let yb))):
                    if x.vr != y.vr { return "\(path)\(tag) VR \(x.vr) → \(y.vr)" }
                    // Odd-length values gain the VR's padding byte (PS3.5 §7.1.1).
                    let padded = xb.count % 2 == 1 ? xb + [x.vr.paddingByte] : xb
                    if padded != yb { return "\(path)\(tag) value differs (\(xb.count) → \(yb.count) bytes)" }
                default:
                    return "\(path)\(tag) value kind changed"
                }
            }
            return nil
        }
    }
}
