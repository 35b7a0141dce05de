import Archive
import DICOM
import Foundation
import Imaging

/// Image quality of every monochrome image series, in modality units (rescaled: HU for CT):
/// mean, standard deviation, minimum and maximum; a robust noise estimate (the median absolute
/// difference of horizontal neighbours, scaled to a Gaussian σ: 1.4826·MAD/√2, padding
/// excluded); the fraction of pixels saturated at the largest value the stored bits allow; and
/// frames that are blank or uniform. A series crossing the configured limits is flagged as not
/// meeting the quality-control standard. A measurement, not a diagnosis.
public struct ImageQualityAnalyzer: Analyzer {
    public struct Limits: Sendable, Hashable, Codable {
        /// Largest fraction of saturated pixels (percent) before the series is flagged.
        public var maximumSaturatedPercent: Double
        /// Largest number of blank or uniform frames before the series is flagged.
        public var maximumBlankFrames: Int
        /// Largest noise estimate in modality units (nil: not checked).
        public var maximumNoise: Double?

        public init(maximumSaturatedPercent: Double = 1, maximumBlankFrames: Int = 0, maximumNoise: Double? = nil) {
            self.maximumSaturatedPercent = maximumSaturatedPercent
            self.maximumBlankFrames = maximumBlankFrames
            self.maximumNoise = maximumNoise
        }
    }

    public let identity = AnalyzerIdentity(
        name: "minivna-image-quality", version: "1.0", manufacturer: "MiniVNA",
        description: "Pixel statistics in modality units, a robust noise estimate, saturated and blank frames (classical computation, no model)")
    public let selector: AnalyzerSelector
    public let limits: Limits

    public init(selector: AnalyzerSelector = AnalyzerSelector(), limits: Limits = Limits()) {
        self.selector = selector
        self.limits = limits
    }

    public func analyze(_ input: StudyInput) async throws -> AnalysisResult {
        var groups: [MeasurementGroup] = []
        for series in input.series {
            let files = try await input.files(of: series)
            // The pixel loop runs off the cooperative pool (see `Offload`), one series at a time.
            let (statistics, references, rescaled) = try await Offload.run { cancellation throws -> (PixelStatistics, [ImageReference], Bool) in
                var statistics = PixelStatistics()
                var references: [ImageReference] = []
                var rescaled = false
                for file in files {
                    try cancellation.check()
                    guard let pixels = try? input.pixels(file), let description = try? PixelDescription(pixels.file.dataSet),
                          description.samplesPerPixel == 1, description.bitsAllocated == 8 || description.bitsAllocated == 16,
                          let frames = try? pixels.frames() else { continue }
                    let dataSet = pixels.file.dataSet
                    let slope = dataSet.number(.rescaleSlope) ?? 1, intercept = dataSet.number(.rescaleIntercept) ?? 0
                    rescaled = rescaled || dataSet.contains(.rescaleSlope)
                    let padding = dataSet.int(.pixelPaddingValue)
                    for frame in 0..<frames.numberOfFrames {
                        let bytes = try pixels.frame(frame, in: TransferSyntax.explicitVRLittleEndian.uid)
                        statistics.add(frame: bytes, description, slope: slope, intercept: intercept, padding: padding)
                    }
                    references.append(input.reference(file))
                }
                return (statistics, references, rescaled)
            }
            try Task.checkCancellation()
            guard statistics.pixelCount > 0 else { continue }
            let unit = series.modality == "CT" && rescaled ? Units.hounsfield : Units.noUnit
            let saturated = 100 * Double(statistics.saturatedCount) / Double(statistics.pixelCount)
            let noise = statistics.noiseEstimate
            var flags: [String] = []
            if saturated > limits.maximumSaturatedPercent { flags.append("saturated") }
            if statistics.blankFrames > limits.maximumBlankFrames { flags.append("blank frames") }
            if let maximum = limits.maximumNoise, noise > maximum { flags.append("noise") }
            let label = "Series \(series.seriesNumber.map(String.init) ?? "?")" + (series.seriesDescription.isEmpty ? "" : " \(series.seriesDescription)")
            groups.append(MeasurementGroup(
                trackingIdentifier: "Image quality: \(label)".prefixed(64),
                finding: flags.isEmpty ? QualityCodes.meetsStandard : QualityCodes.doesNotMeetStandard,
                references: references,
                measurements: [
                    Measurement(concept: Statistics.mean, value: statistics.mean, unit: unit),
                    Measurement(concept: Statistics.standardDeviation, value: statistics.standardDeviation, unit: unit),
                    Measurement(concept: Statistics.minimum, value: statistics.minimum, unit: unit),
                    Measurement(concept: Statistics.maximum, value: statistics.maximum, unit: unit),
                    Measurement(concept: Statistics.ratio, value: saturated, unit: Units.percent),
                    Measurement(concept: Statistics.numberOfFrames, value: Double(statistics.blankFrames), unit: Units.frames),
                ],
                qualitative: [QualitativeEvaluation(concept: QualityCodes.imageArtifacts,
                                                    value: flags.isEmpty ? QualityCodes.absent : QualityCodes.present)],
                priority: flags.isEmpty ? .routine : .urgent))
            groups.append(MeasurementGroup(
                trackingIdentifier: "Noise estimate: \(label)".prefixed(64),
                finding: QualityCodes.imageQuality,
                references: references,
                measurements: [Measurement(concept: Statistics.standardDeviation, value: noise, unit: unit)],
                priority: flags.contains("noise") ? .urgent : .routine))
        }
        guard !groups.isEmpty else { throw AnalysisFailure.notApplicable("no monochrome image series with decodable pixels") }
        return AnalysisResult(groups: groups)
    }
}

/// Running statistics of one series' frames (modality units), in one pass per frame.
struct PixelStatistics {
    private(set) var pixelCount = 0
    private(set) var saturatedCount = 0
    private(set) var blankFrames = 0
    private var sum = 0.0, sumOfSquares = 0.0
    private(set) var minimum = Double.infinity, maximum = -Double.infinity
    /// Histogram of |horizontal neighbour differences| in stored units (the last bin collects the rest).
    private var differences = [Int](repeating: 0, count: 4_096)
    private var slope = 1.0

    var mean: Double { pixelCount == 0 ? 0 : sum / Double(pixelCount) }
    var standardDeviation: Double {
        guard pixelCount > 1 else { return 0 }
        return (max(0, sumOfSquares / Double(pixelCount) - mean * mean)).squareRoot()
    }
    /// 1.4826 · median |Δ| / √2, in modality units.
    var noiseEstimate: Double {
        let total = differences.reduce(0, +)
        guard total > 0 else { return 0 }
        var seen = 0
        for (value, count) in differences.enumerated() {
            seen += count
            if seen * 2 >= total { return 1.4826 * Double(value) / 2.0.squareRoot() * abs(slope) }
        }
        return 0
    }

    mutating func add(frame bytes: [UInt8], _ pixels: PixelDescription, slope: Double, intercept: Double, padding: Int?) {
        self.slope = slope
        let count = pixels.rows * pixels.columns
        let signed = pixels.pixelRepresentation == 1
        let saturation = signed ? (1 << (pixels.bitsStored - 1)) - 1 : (1 << pixels.bitsStored) - 1
        var frameMinimum = Int.max, frameMaximum = Int.min
        var frameSum = 0, frameSquares = 0.0, used = 0
        bytes.withUnsafeBytes { raw in
            func value(_ index: Int) -> Int {
                if pixels.bitsAllocated == 8 {
                    let byte = raw[index]
                    return signed ? Int(Int8(bitPattern: byte)) : Int(byte)
                }
                let word = UInt16(raw[2 * index]) | UInt16(raw[2 * index + 1]) << 8
                let masked = Int(word) & ((1 << pixels.bitsStored) - 1)
                return signed && masked >= 1 << (pixels.bitsStored - 1) ? masked - (1 << pixels.bitsStored) : masked
            }
            guard raw.count >= count * pixels.bytesPerSample else { return }
            for row in 0..<pixels.rows {
                var previous: Int?
                for column in 0..<pixels.columns {
                    let stored = value(row * pixels.columns + column)
                    if stored == padding { previous = nil; continue }
                    used += 1
                    frameSum += stored
                    frameSquares += Double(stored) * Double(stored)
                    frameMinimum = min(frameMinimum, stored)
                    frameMaximum = max(frameMaximum, stored)
                    if stored >= saturation { saturatedCount += 1 }
                    if let previous { differences[min(abs(stored - previous), differences.count - 1)] += 1 }
                    previous = stored
                }
            }
        }
        guard used > 0 else { blankFrames += 1; return }
        if frameMaximum == frameMinimum { blankFrames += 1 }
        pixelCount += used
        // Modality value = slope · stored + intercept (linear: the sums transform exactly).
        let storedMean = Double(frameSum) / Double(used)
        sum += slope * Double(frameSum) + intercept * Double(used)
        let storedVariance = frameSquares - Double(used) * storedMean * storedMean
        let modalityMean = slope * storedMean + intercept
        sumOfSquares += slope * slope * storedVariance + Double(used) * modalityMean * modalityMean
        let low = slope * Double(frameMinimum) + intercept, high = slope * Double(frameMaximum) + intercept
        minimum = min(minimum, min(low, high))
        maximum = max(maximum, max(low, high))
    }
}

extension String {
    /// At most `length` characters (LO and similar limits).
    func prefixed(_ length: Int) -> String { String(prefix(length)) }
}
