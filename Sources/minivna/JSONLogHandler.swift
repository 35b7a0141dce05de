import DICOM
import Foundation
import Logging

/// One JSON object per log line on stderr (`serve --log-format json`), for log shippers:
/// `time` (ISO 8601, UTC, milliseconds), `level`, `label`, `message`, the source module, and the
/// metadata as string fields. Nothing else is added: credentials never reach a log call.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private static let lock = NSLock()

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("time", Self.timestamp()), ("level", event.level.rawValue), ("label", label), ("message", "\(event.message)"),
            ("source", event.source),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) { fields.append((key, "\(value)")) }
        let line = "{" + fields.map { "\(JSONString.quote($0.0)):\(JSONString.quote($0.1))" }.joined(separator: ",") + "}\n"
        Self.lock.withLock { FileHandle.standardError.write(Data(line.utf8)) }
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}
