import Enrichment
import Foundation

/// What `minivna serve` is told about AI enrichment (flags; see the CLI and the README).
public struct EnrichmentSettings: Sendable {
    /// The built-in analyzers by their short names.
    public enum BuiltIn: String, Sendable, CaseIterable {
        case imageQuality = "image-quality"
        case ctDose = "ct-dose"
        case dataQuality = "data-quality"
    }

    /// An external inference service: `name@version=URL;modality=CT;body-part=CHEST;min-instances=20;series-description=REGEX`.
    public struct ExternalService: Sendable, Hashable {
        public var name: String
        public var version: String
        public var url: String
        public var selector: AnalyzerSelector
        public var requestTimeout: Duration = .seconds(60)
        public var callbackTimeout: Duration = .seconds(600)

        public init(name: String, version: String, url: String, selector: AnalyzerSelector = AnalyzerSelector()) {
            self.name = name
            self.version = version
            self.url = url
            self.selector = selector
        }

        /// Parses the flag's form; nil with the reason in `error` when it is malformed.
        public static func parse(_ text: String) throws(SettingsError) -> ExternalService {
            var parts = text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !parts.isEmpty, let equals = parts[0].firstIndex(of: "=") else {
                throw SettingsError("--ai-service \"\(text)\": expected NAME@VERSION=URL[;modality=CT;body-part=CHEST;min-instances=N;series-description=REGEX]")
            }
            let identity = parts[0][..<equals], url = String(parts[0][parts[0].index(after: equals)...])
            let nameAndVersion = identity.split(separator: "@", maxSplits: 1).map(String.init)
            guard nameAndVersion.count == 2, !nameAndVersion[0].isEmpty, !nameAndVersion[1].isEmpty else {
                throw SettingsError("--ai-service \"\(text)\": the analyzer needs a name and a version (NAME@VERSION)")
            }
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw SettingsError("--ai-service \"\(text)\": \(url) is not an http(s) URL")
            }
            var selector = AnalyzerSelector()
            parts.removeFirst()
            for part in parts {
                let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2 else { throw SettingsError("--ai-service \"\(text)\": \"\(part)\" is not key=value") }
                let values = Set(pair[1].split(separator: ",").map { $0.uppercased() })
                switch pair[0] {
                case "modality": selector.modalities = values
                case "body-part": selector.bodyParts = values
                case "sop-class": selector.sopClasses = Set(pair[1].split(separator: ",").map(String.init))
                case "series-description":
                    guard (try? NSRegularExpression(pattern: pair[1])) != nil else {
                        throw SettingsError("--ai-service \"\(text)\": series-description \"\(pair[1])\" is not a regular expression")
                    }
                    selector.seriesDescriptionPattern = pair[1]
                case "min-instances":
                    guard let count = Int(pair[1]), count >= 1 else { throw SettingsError("--ai-service \"\(text)\": min-instances must be a whole number ≥ 1") }
                    selector.minimumInstances = count
                default:
                    throw SettingsError("--ai-service \"\(text)\": unknown selector \"\(pair[0])\" (modality, body-part, sop-class, series-description, min-instances)")
                }
            }
            return ExternalService(name: nameAndVersion[0], version: nameAndVersion[1], url: url, selector: selector)
        }
    }

    /// `BODYPART=CTDIVOL:DLP` (mGy, mGy·cm), e.g. `CHEST=12:400`.
    public static func parseReferenceLevel(_ text: String) throws(SettingsError) -> (String, DoseAnalyzer.ReferenceLevel) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        let values = parts.count == 2 ? parts[1].split(separator: ":").compactMap { Double($0) } : []
        guard parts.count == 2, !parts[0].isEmpty, values.count == 2, values.allSatisfy({ $0 > 0 }) else {
            throw SettingsError("--ai-drl \"\(text)\": expected BODYPART=CTDIVOL:DLP with positive numbers in mGy and mGy.cm, e.g. CHEST=12:400")
        }
        return (parts[0].uppercased(), DoseAnalyzer.ReferenceLevel(ctdiVol: values[0], dlp: values[1]))
    }

    /// `saturated=PERCENT,blank=FRAMES,noise=UNITS` (any of them).
    public static func parseQualityLimits(_ text: String) throws(SettingsError) -> ImageQualityAnalyzer.Limits {
        var limits = ImageQualityAnalyzer.Limits()
        for item in text.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, let number = Double(pair[1]), number >= 0 else {
                throw SettingsError("--ai-quality-limits \"\(text)\": \"\(item)\" is not NAME=NUMBER (saturated, blank, noise)")
            }
            switch pair[0] {
            case "saturated": limits.maximumSaturatedPercent = number
            case "blank": limits.maximumBlankFrames = Int(number)
            case "noise": limits.maximumNoise = number
            default: throw SettingsError("--ai-quality-limits: unknown limit \"\(pair[0])\" (saturated, blank, noise)")
            }
        }
        return limits
    }

    public struct SettingsError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public var enabled: Bool
    public var builtIns: [BuiltIn]
    public var services: [ExternalService]
    public var concurrency: Int
    public var maximumAttempts: Int
    public var retryBaseSeconds: Double
    public var attemptTimeout: Duration
    public var imageQualityLimits: ImageQualityAnalyzer.Limits
    public var referenceLevels: [String: DoseAnalyzer.ReferenceLevel]

    public init(enabled: Bool = true, builtIns: [BuiltIn] = BuiltIn.allCases, services: [ExternalService] = [], concurrency: Int = 2,
                maximumAttempts: Int = 4, retryBaseSeconds: Double = 2, attemptTimeout: Duration = .seconds(300),
                imageQualityLimits: ImageQualityAnalyzer.Limits = .init(),
                referenceLevels: [String: DoseAnalyzer.ReferenceLevel] = DoseAnalyzer.defaultReferenceLevels) {
        self.enabled = enabled
        self.builtIns = builtIns
        self.services = services
        self.concurrency = concurrency
        self.maximumAttempts = maximumAttempts
        self.retryBaseSeconds = retryBaseSeconds
        self.attemptTimeout = attemptTimeout
        self.imageQualityLimits = imageQualityLimits
        self.referenceLevels = referenceLevels
    }
}
