import Crypto
import Foundation

/// UIDs and ids of everything a job writes, derived from its idempotency key (a SHA-256 hash
/// shown as a 2.25 UID, PS3.5 §B.2): a replay after a crash computes the same UIDs, so it
/// rewrites the same objects (the archive sees an identical re-send) instead of adding copies.
public enum ResultUIDs {
    /// `2.25.` and the first 128 bits of SHA-256(`text`) in decimal (at most 44 characters).
    public static func uid(_ text: String) -> String {
        "2.25." + decimal(Array(SHA256.hash(data: Data(text.utf8)).prefix(16)))
    }

    /// 32 hex digits of SHA-256(`text`): FHIR ids (64 characters at most, [A-Za-z0-9.-]).
    public static func hexID(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// One series per study and analyzer version ("AI: name version"): every generation's SR goes there.
    public static func seriesUID(study: String, analyzer: AnalyzerIdentity) -> String {
        uid("series|\(study)|\(analyzer.reference)")
    }

    public static func srInstanceUID(key: String) -> String { uid("sr|\(key)") }
    /// A new Device UID per model version (IHE AIR).
    public static func deviceUID(_ analyzer: AnalyzerIdentity) -> String { uid("device|\(analyzer.reference)") }
    public static func trackingUID(key: String, group: String) -> String { uid("tracking|\(key)|\(group)") }
    /// The Observation UID of a content item: the FHIR Observation's identifier.
    public static func observationUID(key: String, item: String) -> String { uid("item|\(key)|\(item)") }

    public static func observationID(key: String, item: String) -> String { "ai-" + hexID("observation|\(key)|\(item)") }
    public static func diagnosticReportID(key: String) -> String { "ai-" + hexID("report|\(key)") }
    public static func deviceID(_ analyzer: AnalyzerIdentity) -> String { "ai-" + hexID("device|\(analyzer.reference)") }

    /// Big-endian bytes → decimal digits (schoolbook division by 10).
    static func decimal(_ bytes: [UInt8]) -> String {
        var number = bytes
        var digits: [UInt8] = []
        while number.contains(where: { $0 != 0 }) {
            var remainder = 0
            for index in number.indices {
                let value = remainder << 8 | Int(number[index])
                number[index] = UInt8(value / 10)
                remainder = value % 10
            }
            digits.append(UInt8(ascii: "0") + UInt8(remainder))
        }
        return digits.isEmpty ? "0" : String(decoding: digits.reversed(), as: UTF8.self)
    }
}
