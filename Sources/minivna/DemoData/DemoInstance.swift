import DICOM
import Foundation

/// Builds one demo instance: the patient, study and series modules every demo object shares,
/// then what its modality adds. Values are written in the patient's character set, so the
/// archive holds Latin-1, Cyrillic and UTF-8 names as real sites send them.
struct DemoInstance {
    var dataSet: DataSet

    init(patient: DemoPatient, study: DemoStudy, series: DemoSeries, sopClassUID: String, sopInstanceUID: String,
         instanceNumber: Int) {
        var ds = DataSet(characterSet: SpecificCharacterSet(terms: [patient.characterSet]))
        ds.setString(.specificCharacterSet, vr: .CS, patient.characterSet)
        ds.setString(.sopClassUID, vr: .UI, sopClassUID)
        ds.setString(.sopInstanceUID, vr: .UI, sopInstanceUID)
        ds.setString(.studyInstanceUID, vr: .UI, study.uid)
        ds.setString(.seriesInstanceUID, vr: .UI, series.uid)
        ds.setString(.patientName, vr: .PN, patient.name)
        ds.setString(.patientID, vr: .LO, patient.id)
        ds.setString(.patientBirthDate, vr: .DA, patient.birthDate)
        ds.setString(.patientSex, vr: .CS, patient.sex)
        ds.setString(.studyDate, vr: .DA, study.date)
        ds.setString(.studyTime, vr: .TM, study.time)
        ds.setString(.contentDate, vr: .DA, study.date)
        ds.setString(.contentTime, vr: .TM, study.time)
        ds.setString(.accessionNumber, vr: .SH, study.accession)
        ds.setString(.studyID, vr: .SH, study.accession)
        ds.setString(.studyDescription, vr: .LO, study.description)
        ds.setString(.referringPhysicianName, vr: .PN, study.referringPhysician)
        ds.setString(.institutionName, vr: .LO, patient.institution)
        ds.setString(.manufacturer, vr: .LO, "MiniVNA demo data")
        ds.setString(.modality, vr: .CS, series.modality)
        ds.setString(.seriesNumber, vr: .IS, String(series.number))
        ds.setString(.seriesDescription, vr: .LO, series.description)
        if let bodyPart = series.bodyPart { ds.setString(.bodyPartExamined, vr: .CS, bodyPart) }
        ds.setString(.instanceNumber, vr: .IS, String(instanceNumber))
        dataSet = ds
    }

    mutating func set(_ tag: Tag, _ vr: VR, _ value: String) { dataSet.setString(tag, vr: vr, value) }
    mutating func set(_ tag: Tag, _ vr: VR, _ values: [String]) { dataSet.setStrings(tag, vr: vr, values) }

    mutating func setUS(_ tag: Tag, _ value: Int) {
        dataSet.set(DataElement(tag: tag, vr: .US, bytes: NumericValue.encode([UInt64(value)], size: 2)))
    }

    /// Image pixel module for 16-bit grey pixels (stored unsigned, `bitsStored` significant).
    mutating func setGrayPixels(_ pixels: [UInt16], rows: Int, columns: Int, bitsStored: Int, photometric: String = "MONOCHROME2") {
        setUS(.samplesPerPixel, 1)
        set(.photometricInterpretation, .CS, photometric)
        setUS(.rows, rows)
        setUS(.columns, columns)
        setUS(.bitsAllocated, 16)
        setUS(.bitsStored, bitsStored)
        setUS(.highBit, bitsStored - 1)
        setUS(.pixelRepresentation, 0)
        var bytes = [UInt8]()
        bytes.reserveCapacity(pixels.count * 2)
        for value in pixels { bytes.append(UInt8(value & 0xFF)); bytes.append(UInt8(value >> 8)) }
        dataSet.set(DataElement(tag: .pixelData, vr: .OW, bytes: bytes))
    }

    /// Interleaved 8-bit RGB frames.
    mutating func setRGBFrames(_ frames: [[UInt8]], rows: Int, columns: Int) {
        setUS(.samplesPerPixel, 3)
        set(.photometricInterpretation, .CS, "RGB")
        setUS(.planarConfiguration, 0)
        setUS(.rows, rows)
        setUS(.columns, columns)
        setUS(.bitsAllocated, 8)
        setUS(.bitsStored, 8)
        setUS(.highBit, 7)
        setUS(.pixelRepresentation, 0)
        set(.numberOfFrames, .IS, String(frames.count))
        var bytes = frames.flatMap { $0 }
        if bytes.count % 2 == 1 { bytes.append(0) }
        dataSet.set(DataElement(tag: .pixelData, vr: .OB, bytes: bytes))
    }

    func encoded() throws -> [UInt8] { try Part10Writer.write(dataSet) }
}

struct DemoPatient {
    let name: String, id: String, birthDate: String, sex: String, characterSet: String, institution: String
}

struct DemoStudy {
    let uid: String, date: String, time: String, accession: String, description: String, referringPhysician: String
}

struct DemoSeries {
    let uid: String, number: Int, modality: String, description: String, bodyPart: String?
}

/// Deterministic 2.25 UIDs from a name (FNV-1a, 128 bits): a second `demo-data` run makes the
/// same instances, which the archive finds already stored.
enum DemoUID {
    static func make(_ name: String) -> String {
        var high: UInt64 = 0xcbf29ce484222325, low: UInt64 = 0x84222325cbf29ce4
        for byte in Array("minivna-demo/\(name)".utf8) {
            high = (high ^ UInt64(byte)) &* 0x100000001b3
            low = (low ^ UInt64(byte) ^ (high >> 29)) &* 0x100000001b3
        }
        return "2.25.\(UInt128(high) << 64 | UInt128(low))"
    }
}

/// A small reproducible random source for the images' noise.
struct DemoNoise {
    var state: UInt64

    mutating func next() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }

    /// Roughly normal (sum of uniforms), mean 0, standard deviation 1.
    mutating func gaussian() -> Double {
        (0..<6).reduce(0.0) { sum, _ in sum + next() } - 3.0
    }
}
