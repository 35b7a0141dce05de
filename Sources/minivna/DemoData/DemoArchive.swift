import DICOM
import Foundation

/// The demo archive: five patients in four character sets, with CT, MR, CR, US and SR studies
/// whose images are synthetic but shaped like the real thing (a chest CT in HU with lungs and a
/// spine, an MR head, a chest radiograph, an ultrasound cine loop, a report about the CT), so a
/// viewer, the QIDO filters and the AI analyzers all have something real to work on.
enum DemoArchive {
    static let patients = [
        DemoPatient(name: "Müller^Jürgen", id: "DEMO-001", birthDate: "19580412", sex: "M", characterSet: "ISO_IR 100",
                    institution: "Klinikum Süd"),
        DemoPatient(name: "Иванов^Иван", id: "DEMO-002", birthDate: "19710923", sex: "M", characterSet: "ISO_IR 144",
                    institution: "Городская больница"),
        DemoPatient(name: "山田^太郎=やまだ^たろう", id: "DEMO-003", birthDate: "19850107", sex: "M", characterSet: "ISO_IR 192",
                    institution: "中央病院"),
        DemoPatient(name: "Dupont^Élodie", id: "DEMO-004", birthDate: "19920630", sex: "F", characterSet: "ISO_IR 100",
                    institution: "Hôpital Saint-Éloi"),
        DemoPatient(name: "Doe^Jane", id: "DEMO-005", birthDate: "19660215", sex: "F", characterSet: "ISO_IR 192",
                    institution: "General Hospital"),
    ]

    /// Every demo instance, encoded, with a label for the summary.
    static func instances(today: Date = Date()) throws -> [(label: String, bytes: [UInt8])] {
        var result: [(String, [UInt8])] = []
        func day(_ daysAgo: Int) -> String {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyyMMdd"
            return formatter.string(from: today.addingTimeInterval(-Double(daysAgo) * 86_400))
        }
        let ct = study(patients[0], "CT", "CT Thorax", day(3))
        result += try chestCT(patients[0], ct).map { ("CT", $0) }
        result.append(("SR", try report(patients[0], ct, about: "CT Thorax")))
        result += try chestCT(patients[4], study(patients[4], "CT2", "CT Chest low dose", day(40)), slices: 16).map { ("CT", $0) }
        result += try headMR(patients[1], study(patients[1], "MR", "MRT Kopf", day(10))).map { ("MR", $0) }
        result.append(("CR", try chestRadiograph(patients[2], study(patients[2], "CR", "胸部X線", day(1)))))
        result.append(("CR", try chestRadiograph(patients[4], study(patients[4], "CR2", "Chest PA", day(400)))))
        result.append(("US", try ultrasound(patients[3], study(patients[3], "US", "Échographie abdominale", day(5)))))
        return result
    }

    static func study(_ patient: DemoPatient, _ key: String, _ description: String, _ date: String) -> DemoStudy {
        DemoStudy(uid: DemoUID.make("\(patient.id)/\(key)"), date: date, time: "093000", accession: "ACC-\(patient.id.suffix(3))-\(key)",
                  description: description, referringPhysician: "Referrer^Demo")
    }

    /// A chest CT phantom in HU (rescale -1024): body, two lungs, a spine, a heart, noise.
    static func chestCT(_ patient: DemoPatient, _ study: DemoStudy, slices: Int = 24) throws -> [[UInt8]] {
        let size = 128, spacing = 2.5, thickness = 5.0
        let series = DemoSeries(uid: DemoUID.make("\(study.uid)/ct"), number: 1, modality: "CT", description: "Thorax 5mm", bodyPart: "CHEST")
        var noise = DemoNoise(state: UInt64(patient.id.utf8.reduce(7) { $0 &* 31 &+ Int($1) }) | 1)
        return try (0..<slices).map { index in
            var pixels = [UInt16](repeating: 0, count: size * size)
            let z = Double(index) / Double(max(slices - 1, 1))
            for y in 0..<size {
                for x in 0..<size {
                    let u = (Double(x) - 64) / 64, v = (Double(y) - 64) / 64
                    var hu = -1000.0
                    if u * u / 0.81 + v * v / 0.49 < 1 { hu = 40 }                                   // soft tissue
                    let lung = 0.16 * (1 - 0.3 * abs(z - 0.5))
                    if pow(u + 0.42, 2) / lung + pow(v + 0.05, 2) / 0.2 < 1 { hu = -850 }            // right lung
                    if pow(u - 0.42, 2) / lung + pow(v + 0.05, 2) / 0.2 < 1 { hu = -850 }            // left lung
                    if pow(u + 0.05, 2) / 0.03 + pow(v - 0.05, 2) / 0.03 < 1 && z > 0.3 { hu = 45 }  // heart
                    if u * u / 0.006 + pow(v - 0.5, 2) / 0.01 < 1 { hu = 700 }                       // spine
                    hu += noise.gaussian() * 12
                    pixels[y * size + x] = UInt16(max(0, min(4095, hu + 1024)))
                }
            }
            var instance = DemoInstance(patient: patient, study: study, series: series, sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
                                        sopInstanceUID: DemoUID.make("\(series.uid)/\(index)"), instanceNumber: index + 1)
            instance.set(.imageType, .CS, ["ORIGINAL", "PRIMARY", "AXIAL"])
            instance.set(.frameOfReferenceUID, .UI, DemoUID.make("\(study.uid)/for"))
            instance.set(.positionReferenceIndicator, .LO, "")
            instance.set(.imagePositionPatient, .DS, ["-160", "-160", String(format: "%.1f", -Double(index) * thickness)])
            instance.set(.imageOrientationPatient, .DS, ["1", "0", "0", "0", "1", "0"])
            instance.set(.sliceLocation, .DS, String(format: "%.1f", -Double(index) * thickness))
            instance.set(.pixelSpacing, .DS, [String(spacing), String(spacing)])
            instance.set(.sliceThickness, .DS, String(thickness))
            instance.set(.kvp, .DS, "120")
            instance.set(.xRayTubeCurrent, .IS, "180")
            instance.set(.exposure, .IS, "90")
            instance.dataSet.set(DataElement(tag: .ctdIvol, vr: .FD, bytes: withUnsafeBytes(of: (8.5).bitPattern.littleEndian, Array.init)))
            instance.set(.acquisitionNumber, .IS, "1")
            instance.set(.rescaleIntercept, .DS, "-1024")
            instance.set(.rescaleSlope, .DS, "1")
            instance.set(.rescaleType, .LO, "HU")
            instance.set(.windowCenter, .DS, "-600")
            instance.set(.windowWidth, .DS, "1500")
            instance.set(.patientPosition, .CS, "FFS")
            instance.setGrayPixels(pixels, rows: size, columns: size, bitsStored: 12)
            return try instance.encoded()
        }
    }

    /// An MR head: ellipses of scalp, skull, brain and ventricles in arbitrary units.
    static func headMR(_ patient: DemoPatient, _ study: DemoStudy, slices: Int = 12) throws -> [[UInt8]] {
        let size = 128
        let series = DemoSeries(uid: DemoUID.make("\(study.uid)/t1"), number: 2, modality: "MR", description: "T1 axial", bodyPart: "HEAD")
        var noise = DemoNoise(state: 0x5EED)
        return try (0..<slices).map { index in
            var pixels = [UInt16](repeating: 0, count: size * size)
            let shrink = 1 - 0.5 * pow((Double(index) - Double(slices) / 2) / Double(slices), 2) * 4
            for y in 0..<size {
                for x in 0..<size {
                    let u = (Double(x) - 64) / 60 / shrink, v = (Double(y) - 64) / 60 / shrink
                    let r = u * u / 0.7 + v * v / 0.9
                    var value = 0.0
                    if r < 1 { value = 900 }            // scalp
                    if r < 0.85 { value = 150 }         // skull
                    if r < 0.75 { value = 600 }         // brain
                    if pow(u + 0.12, 2) / 0.01 + v * v / 0.06 < 1 || pow(u - 0.12, 2) / 0.01 + v * v / 0.06 < 1 { value = 250 }
                    value += abs(noise.gaussian()) * 15
                    pixels[y * size + x] = UInt16(max(0, min(4095, value)))
                }
            }
            var instance = DemoInstance(patient: patient, study: study, series: series, sopClassUID: "1.2.840.10008.5.1.4.1.1.4",
                                        sopInstanceUID: DemoUID.make("\(series.uid)/\(index)"), instanceNumber: index + 1)
            instance.set(.imageType, .CS, ["ORIGINAL", "PRIMARY", "M", "ND"])
            instance.set(.frameOfReferenceUID, .UI, DemoUID.make("\(study.uid)/for"))
            instance.set(.positionReferenceIndicator, .LO, "")
            instance.set(.scanningSequence, .CS, "SE")
            instance.set(.sequenceVariant, .CS, "NONE")
            instance.set(.scanOptions, .CS, "")
            instance.set(.mrAcquisitionType, .CS, "2D")
            instance.set(.repetitionTime, .DS, "500")
            instance.set(.echoTime, .DS, "15")
            instance.set(.echoTrainLength, .IS, "1")
            instance.set(.magneticFieldStrength, .DS, "1.5")
            instance.set(.sliceThickness, .DS, "5")
            instance.set(.imagePositionPatient, .DS, ["-120", "-120", String(Double(index) * 6)])
            instance.set(.imageOrientationPatient, .DS, ["1", "0", "0", "0", "1", "0"])
            instance.set(.pixelSpacing, .DS, ["1.875", "1.875"])
            instance.set(.patientPosition, .CS, "HFS")
            instance.setGrayPixels(pixels, rows: size, columns: size, bitsStored: 12)
            return try instance.encoded()
        }
    }

    /// A chest radiograph (PA): lung fields dark, mediastinum and ribs bright, 12 bits.
    static func chestRadiograph(_ patient: DemoPatient, _ study: DemoStudy) throws -> [UInt8] {
        let rows = 256, columns = 256
        let series = DemoSeries(uid: DemoUID.make("\(study.uid)/pa"), number: 1, modality: "CR", description: "Chest PA", bodyPart: "CHEST")
        var noise = DemoNoise(state: 0xC4E57)
        var pixels = [UInt16](repeating: 0, count: rows * columns)
        for y in 0..<rows {
            for x in 0..<columns {
                let u = (Double(x) - 128) / 128, v = (Double(y) - 128) / 128
                var value = 3000.0 - 800 * (u * u + v * v)
                let lungs = pow(abs(u) - 0.4, 2) / 0.07 + pow(v + 0.05, 2) / 0.35 < 1
                if lungs { value = 900 + 300 * (1 + sin(v * 28)) / 2 }       // lung fields with ribs
                if abs(u) < 0.12 && v > -0.6 { value = 2600 }                // mediastinum, spine
                value += noise.gaussian() * 25
                pixels[y * columns + x] = UInt16(max(0, min(4095, value)))
            }
        }
        var instance = DemoInstance(patient: patient, study: study, series: series, sopClassUID: "1.2.840.10008.5.1.4.1.1.1",
                                    sopInstanceUID: DemoUID.make("\(series.uid)/1"), instanceNumber: 1)
        instance.set(.viewPosition, .CS, "PA")
        instance.set(.imagerPixelSpacing, .DS, ["0.7", "0.7"])
        instance.set(.patientOrientation, .CS, ["L", "F"])
        instance.set(.windowCenter, .DS, "2048")
        instance.set(.windowWidth, .DS, "4096")
        instance.setGrayPixels(pixels, rows: rows, columns: columns, bitsStored: 12)
        return try instance.encoded()
    }

    /// An abdominal ultrasound cine loop: a fan of speckle with a moving dark structure, RGB.
    static func ultrasound(_ patient: DemoPatient, _ study: DemoStudy, frames: Int = 4) throws -> [UInt8] {
        let rows = 120, columns = 160
        let series = DemoSeries(uid: DemoUID.make("\(study.uid)/loop"), number: 1, modality: "US", description: "Leber", bodyPart: "ABDOMEN")
        var noise = DemoNoise(state: 0x05)
        let images: [[UInt8]] = (0..<frames).map { frame in
            var rgb = [UInt8](repeating: 0, count: rows * columns * 3)
            for y in 0..<rows {
                for x in 0..<columns {
                    let dx = Double(x - columns / 2), dy = Double(y + 10)
                    let angle = atan2(dx, dy), radius = (dx * dx + dy * dy).squareRoot()
                    guard abs(angle) < 0.6, radius < 125 else { continue }
                    var level = 90 + 60 * noise.next()
                    let cx = 20.0 * sin(Double(frame) * 0.8), cy = 70.0
                    if pow(dx - cx, 2) / 300 + pow(Double(y) - cy, 2) / 120 < 1 { level = 15 + 10 * noise.next() }
                    let value = UInt8(max(0, min(255, level)))
                    rgb[(y * columns + x) * 3] = value
                    rgb[(y * columns + x) * 3 + 1] = value
                    rgb[(y * columns + x) * 3 + 2] = value
                }
            }
            return rgb
        }
        var instance = DemoInstance(patient: patient, study: study, series: series, sopClassUID: "1.2.840.10008.5.1.4.1.1.3.1",
                                    sopInstanceUID: DemoUID.make("\(series.uid)/1"), instanceNumber: 1)
        instance.set(.imageType, .CS, ["ORIGINAL", "PRIMARY", "ABDOMINAL"])
        instance.set(.patientOrientation, .CS, ["", ""])
        instance.set(.frameTime, .DS, "66.7")
        instance.dataSet.set(DataElement(tag: .frameIncrementPointer, vr: .AT, bytes: [0x18, 0x00, 0x63, 0x10]))   // (0018,1063) Frame Time
        instance.setRGBFrames(images, rows: rows, columns: columns)
        return try instance.encoded()
    }

    /// A radiologist's report about a study, as a Basic Text SR in the same study.
    static func report(_ patient: DemoPatient, _ study: DemoStudy, about: String) throws -> [UInt8] {
        let series = DemoSeries(uid: DemoUID.make("\(study.uid)/report"), number: 99, modality: "SR", description: "Befund", bodyPart: nil)
        var instance = DemoInstance(patient: patient, study: study, series: series, sopClassUID: "1.2.840.10008.5.1.4.1.1.88.11",
                                    sopInstanceUID: DemoUID.make("\(series.uid)/1"), instanceNumber: 1)
        let characterSet = instance.dataSet.characterSet
        func code(_ value: String, _ scheme: String, _ meaning: String) -> DataSet {
            var item = DataSet(characterSet: characterSet)
            item.setString(.codeValue, vr: .SH, value)
            item.setString(.codingSchemeDesignator, vr: .SH, scheme)
            item.setString(.codeMeaning, vr: .LO, meaning)
            return item
        }
        func text(_ concept: DataSet, _ value: String) -> DataSet {
            var item = DataSet(characterSet: characterSet)
            item.setString(.relationshipType, vr: .CS, "CONTAINS")
            item.setString(.valueType, vr: .CS, "TEXT")
            item.set(DataElement(tag: .conceptNameCodeSequence, vr: .SQ, value: .sequence([concept])))
            item.setString(.textValue, vr: .UT, value)
            return item
        }
        instance.set(.valueType, .CS, "CONTAINER")
        instance.dataSet.set(DataElement(tag: .conceptNameCodeSequence, vr: .SQ,
                                         value: .sequence([code("18748-4", "LN", "Diagnostic imaging report")])))
        instance.set(.continuityOfContent, .CS, "SEPARATE")
        instance.set(.completionFlag, .CS, "COMPLETE")
        instance.set(.verificationFlag, .CS, "UNVERIFIED")
        instance.dataSet.set(DataElement(tag: .referencedPerformedProcedureStepSequence, vr: .SQ, value: .sequence([])))
        instance.dataSet.set(DataElement(tag: .performedProcedureCodeSequence, vr: .SQ, value: .sequence([])))
        instance.dataSet.set(DataElement(tag: .contentSequence, vr: .SQ, value: .sequence([
            text(code("121071", "DCM", "Finding"), "\(about): Lungen beidseits belüftet, kein Erguss, keine Raumforderung."),
            text(code("121073", "DCM", "Impression"), "Unauffälliger Befund (Demo-Daten, kein echter Patient)."),
        ])))
        return try instance.encoded()
    }
}
