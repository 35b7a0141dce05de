import DICOM

extension DataSet {
    /// Numbers of a DS, IS, FL or FD element (nil when absent or not numeric).
    func numbers(_ tag: Tag) -> [Double]? {
        guard let element = self[tag], let bytes = element.bytes else { return nil }
        if element.vr == .IS { return strings(tag)?.compactMap { Double($0) } }
        return NumericValue.doubles(bytes, vr: element.vr)
    }

    func number(_ tag: Tag) -> Double? { numbers(tag)?.first }
}

/// UCUM units and statistic concepts the built-in analyzers report with (PS3.16 CID 7181, 7464).
enum Units {
    static let hounsfield = CodedConcept.ucum("[hnsf'U]", "Hounsfield unit")
    static let noUnit = CodedConcept.ucum("1", "no units")
    static let percent = CodedConcept.ucum("%", "percent")
    static let frames = CodedConcept.ucum("{frames}", "frames")
    static let milligray = CodedConcept.ucum("mGy", "mGy")
    static let milligrayCentimetre = CodedConcept.ucum("mGy.cm", "mGy.cm")
    static let kilovolt = CodedConcept.ucum("kV", "kV")
    static let milliampere = CodedConcept.ucum("mA", "mA")
    static let second = CodedConcept.ucum("s", "s")
    static let microampereSecond = CodedConcept.ucum("uA.s", "uA.s")
    static let millimetre = CodedConcept.ucum("mm", "mm")
}

enum Statistics {
    static let mean = CodedConcept.sct("373098007", "Mean")
    static let standardDeviation = CodedConcept.sct("386136009", "Standard Deviation")
    static let minimum = CodedConcept.sct("255605001", "Minimum")
    static let maximum = CodedConcept.sct("56851009", "Maximum")
    static let ratio = CodedConcept.sct("118586006", "Ratio")
    static let numberOfFrames = CodedConcept.dcm("121140", "Number of Frames")
}

/// Findings of the quality checks (PS3.16 CID 6044, 7010, 7011; SCT CID 240).
enum QualityCodes {
    static let meetsStandard = CodedConcept.dcm("111237", "Usable - Meets the quality control standard")
    static let doesNotMeetStandard = CodedConcept.dcm("111236", "Usable - Does not meet the quality control standard")
    static let qualityIssue = CodedConcept.dcm("113010", "Quality Issue")
    static let imageQuality = CodedConcept.dcm("111101", "Image Quality")
    static let imageArtifacts = CodedConcept.dcm("111207", "Image artifact(s)")
    static let present = CodedConcept.sct("52101004", "Present")
    static let absent = CodedConcept.sct("272519000", "Absent")
}
