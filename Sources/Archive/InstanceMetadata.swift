import DICOM
import Foundation

/// Each instance's DICOM JSON for WADO-RS metadata, encoded once at ingest and kept in the
/// index, so study and series metadata are a concatenation instead of a re-read of every file.
///
/// Values longer than `bulkDataThreshold` (left in the file by the reader) become BulkDataURIs.
/// They are stored relative to the DICOMweb base (`/studies/…/bulkdata/<path>`); `array(_:baseURL:)`
/// puts the request's base in front. The insertion points are unambiguous: the encoder writes
/// `"BulkDataURI":"` only as a key, and a string value containing it would be escaped.
public enum InstanceMetadata {
    /// Binary values longer than this are BulkDataURIs; shorter ones are InlineBinary.
    public static let bulkDataThreshold = 1024

    /// The relative URI of one instance's bulk data element.
    public static func bulkDataPath(study: String, series: String, instance: String, element: String) -> String {
        "/studies/\(study)/series/\(series)/instances/\(instance)/bulkdata/\(element)"
    }

    /// - Parameter file: where values still in the file are read when they are small enough to
    ///   inline (encapsulated Pixel Data is deferred fragment by fragment, whatever its size).
    static func encode(_ dataSet: DataSet, file: String, study: String, series: String, instance: String) throws -> [UInt8] {
        let policy = BulkDataPolicy(threshold: bulkDataThreshold) { path in
            bulkDataPath(study: study, series: series, instance: instance, element: path.description)
        }
        let encoder = DICOMJSONEncoder(bulkData: policy) { try BulkDataReader.read($0, from: file) }
        return Array(try encoder.encode(dataSet).utf8)
    }

    private static let marker = Array(#""BulkDataURI":""#.utf8)

    /// A JSON array of the given instances' metadata with absolute BulkDataURIs.
    public static func array(_ items: [[UInt8]], baseURL: String) -> [UInt8] {
        let base = Array(baseURL.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(items.reduce(2) { $0 + $1.count + 1 })
        out.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendWithBase(item, base: base, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    private static func appendWithBase(_ item: [UInt8], base: [UInt8], to out: inout [UInt8]) {
        var copied = 0
        var i = 0
        let first = marker[0]
        while i + marker.count <= item.count {
            if item[i] == first, item[i..<(i + marker.count)].elementsEqual(marker) {
                let end = i + marker.count
                out.append(contentsOf: item[copied..<end])
                out.append(contentsOf: base)
                copied = end
                i = end
            } else {
                i += 1
            }
        }
        out.append(contentsOf: item[copied...])
    }
}
