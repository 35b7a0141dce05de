import Archive
import DICOM
import Foundation

/// Builds the Comprehensive 3D SR of one analysis: PS3.16 TID 1500 "Measurement Report" with
/// the observation context of the analyzer as a device (TID 1002/1004), the procedure reported,
/// an image library (TID 1600) of the evaluated instances, and one TID 1501 measurement group
/// per finding (tracking identifiers, the coded finding and its site, TID 4019 algorithm
/// identification, TID 300 measurements with UCUM units, qualitative evaluations). The header
/// follows IHE AI Results: same study, a series of its own, the evaluated instances in Current
/// Requested Procedure Evidence Sequence, the algorithm in Contributing Equipment Sequence,
/// and the report it replaces in Predecessor Documents Sequence.
///
/// Deterministic: every UID comes from the job's key and the dates from the job's creation, so
/// a replay encodes the same bytes.
public struct MeasurementReportBuilder: Sendable {
    public static let comprehensive3DSRStorage = "1.2.840.10008.5.1.4.1.1.88.34"

    /// What the report is about and what it replaces.
    public struct Input: Sendable {
        public var analyzer: AnalyzerIdentity
        public var job: AnalysisJob
        public var result: AnalysisResult
        /// A header of the analysed study (patient and study attributes are copied from it).
        public var studyHeader: DataSet
        /// Modality of each evaluated series (the image library's acquisition context).
        public var seriesModalities: [String: String]
        /// The SR of an earlier generation this one supersedes.
        public var predecessor: (seriesInstanceUID: String, sopInstanceUID: String)?

        public init(analyzer: AnalyzerIdentity, job: AnalysisJob, result: AnalysisResult, studyHeader: DataSet,
                    seriesModalities: [String: String], predecessor: (seriesInstanceUID: String, sopInstanceUID: String)? = nil) {
            self.analyzer = analyzer
            self.job = job
            self.result = result
            self.studyHeader = studyHeader
            self.seriesModalities = seriesModalities
            self.predecessor = predecessor
        }
    }

    /// The encoded report and the UIDs the FHIR resources point at.
    public struct Report: Sendable {
        public let bytes: [UInt8]
        public let dataSet: DataSet
        public let seriesInstanceUID: String
        public let sopInstanceUID: String
        /// Observation UID of each group's container, by tracking identifier.
        public let groupObservationUIDs: [String: String]
        /// Observation UID of each measurement and qualitative item, by `trackingIdentifier#index`.
        public let itemObservationUIDs: [String: String]
    }

    public init() {}

    public func build(_ input: Input) throws -> Report {
        let key = input.job.idempotencyKey
        let seriesUID = ResultUIDs.seriesUID(study: input.job.studyInstanceUID, analyzer: input.analyzer)
        let sopUID = ResultUIDs.srInstanceUID(key: key)
        var groupUIDs: [String: String] = [:]
        var itemUIDs: [String: String] = [:]

        let evaluated = Self.evaluatedImages(input.result)
        var measurementGroups: [SRContentItem] = []
        for group in input.result.groups {
            var children: [SRContentItem] = [
                .init("HAS OBS CONTEXT", SRCodes.trackingIdentifier, .text(group.trackingIdentifier)),
                .init("HAS OBS CONTEXT", SRCodes.trackingUniqueIdentifier,
                      .uidReference(ResultUIDs.trackingUID(key: key, group: group.trackingIdentifier))),
                .init("CONTAINS", SRCodes.finding, .code(group.finding)),
            ]
            if let site = group.findingSite { children.append(.init("HAS CONCEPT MOD", SRCodes.findingSite, .code(site))) }
            children.append(.init("HAS CONCEPT MOD", SRCodes.algorithmName, .text(input.analyzer.name)))
            children.append(.init("HAS CONCEPT MOD", SRCodes.algorithmVersion, .text(input.analyzer.version)))
            let sources = group.references.map { reference in
                SRContentItem("INFERRED FROM", SRCodes.sourceOfMeasurement,
                              .image(sopClassUID: reference.sopClassUID, sopInstanceUID: reference.sopInstanceUID, frames: reference.frames))
            }
            for (index, measurement) in group.measurements.enumerated() {
                let item = "\(group.trackingIdentifier)#\(index)"
                let uid = ResultUIDs.observationUID(key: key, item: item)
                itemUIDs[item] = uid
                children.append(.init("CONTAINS", measurement.concept, .number(measurement.value, unit: measurement.unit),
                                      observationUID: uid, children: sources))
            }
            for (offset, evaluation) in group.qualitative.enumerated() {
                let item = "\(group.trackingIdentifier)#\(group.measurements.count + offset)"
                let uid = ResultUIDs.observationUID(key: key, item: item)
                itemUIDs[item] = uid
                children.append(.init("CONTAINS", evaluation.concept, .code(evaluation.value), observationUID: uid))
            }
            let uid = ResultUIDs.observationUID(key: key, item: group.trackingIdentifier)
            groupUIDs[group.trackingIdentifier] = uid
            measurementGroups.append(.init("CONTAINS", SRCodes.measurementGroup, .container(continuous: true, template: "1501"),
                                           observationUID: uid, children: children))
        }

        let librarySeries = Dictionary(grouping: evaluated, by: \.seriesInstanceUID)
        let libraryGroups = librarySeries.keys.sorted().map { series in
            var entries: [SRContentItem] = []
            if let modality = input.seriesModalities[series] {
                entries.append(.init("HAS ACQ CONTEXT", SRCodes.modality, .code(Self.modalityCode(modality))))
            }
            entries += (librarySeries[series] ?? []).map {
                SRContentItem("CONTAINS", SRCodes.source, .image(sopClassUID: $0.sopClassUID, sopInstanceUID: $0.sopInstanceUID, frames: nil))
            }
            return SRContentItem("CONTAINS", SRCodes.imageLibraryGroup, .container(continuous: true, template: nil), children: entries)
        }

        let modalities = Array(Set(input.seriesModalities.values)).sorted()
        let procedure = input.result.procedure ?? Self.procedureCode(modalities)
        let root = SRContentItem(nil, SRCodes.imagingMeasurementReport, .container(continuous: true, template: "1500"), children: [
            .init("HAS CONCEPT MOD", SRCodes.languageOfContent, .code(SRCodes.englishUS)),
            .init("HAS OBS CONTEXT", SRCodes.observerType, .code(SRCodes.device)),
            .init("HAS OBS CONTEXT", SRCodes.deviceObserverUID, .uidReference(ResultUIDs.deviceUID(input.analyzer))),
            .init("HAS OBS CONTEXT", SRCodes.deviceObserverName, .text(input.analyzer.name)),
            .init("HAS OBS CONTEXT", SRCodes.deviceObserverManufacturer, .text(input.analyzer.manufacturer)),
            .init("HAS OBS CONTEXT", SRCodes.deviceObserverModelName, .text("\(input.analyzer.name) \(input.analyzer.version)")),
            .init("HAS CONCEPT MOD", SRCodes.procedureReported, .code(procedure)),
            .init("CONTAINS", SRCodes.imageLibrary, .container(continuous: true, template: nil), children: libraryGroups),
            .init("CONTAINS", SRCodes.imagingMeasurements, .container(continuous: true, template: nil), children: measurementGroups),
        ])

        var ds = DataSet(characterSet: .utf8)
        ds.setString(.specificCharacterSet, vr: .CS, "ISO_IR 192")
        let created = Date(timeIntervalSince1970: input.job.createdAt)
        let (date, time) = Self.dateTime(created)
        ds.setString(.instanceCreationDate, vr: .DA, date)
        ds.setString(.instanceCreationTime, vr: .TM, time)
        ds.setString(.sopClassUID, vr: .UI, Self.comprehensive3DSRStorage)
        ds.setString(.sopInstanceUID, vr: .UI, sopUID)
        ds.setString(.studyDate, vr: .DA, input.studyHeader.string(.studyDate) ?? "")
        ds.setString(.contentDate, vr: .DA, date)
        ds.setString(.studyTime, vr: .TM, input.studyHeader.string(.studyTime) ?? "")
        ds.setString(.contentTime, vr: .TM, time)
        ds.setString(.timezoneOffsetFromUTC, vr: .SH, "+0000")   // the dates and times above are UTC
        ds.setString(.accessionNumber, vr: .SH, input.studyHeader.string(.accessionNumber) ?? "")
        ds.setString(.modality, vr: .CS, "SR")
        ds.setString(.manufacturer, vr: .LO, input.analyzer.manufacturer)
        ds.setString(.referringPhysicianName, vr: .PN, input.studyHeader.string(.referringPhysicianName) ?? "")
        if let description = input.studyHeader.string(.studyDescription) { ds.setString(.studyDescription, vr: .LO, description) }
        ds.setString(.seriesDescription, vr: .LO, String("AI: \(input.analyzer.name) \(input.analyzer.version)".prefix(64)))
        ds.setString(.manufacturerModelName, vr: .LO, input.analyzer.name)
        ds.setString(.patientName, vr: .PN, input.studyHeader.string(.patientName) ?? "")
        ds.setString(.patientID, vr: .LO, input.studyHeader.string(.patientID) ?? "")
        ds.setString(.patientBirthDate, vr: .DA, input.studyHeader.string(.patientBirthDate) ?? "")
        ds.setString(.patientSex, vr: .CS, input.studyHeader.string(.patientSex) ?? "")
        ds.setString(.deviceSerialNumber, vr: .LO, String(ResultUIDs.hexID("serial|\(input.analyzer.reference)").prefix(16)))
        ds.setString(.softwareVersions, vr: .LO, input.analyzer.version)
        ds.setString(.studyInstanceUID, vr: .UI, input.job.studyInstanceUID)
        ds.setString(.seriesInstanceUID, vr: .UI, seriesUID)
        ds.setString(.studyID, vr: .SH, input.studyHeader.string(.studyID) ?? "")
        ds.setString(.seriesNumber, vr: .IS, "9\(Self.seriesNumberSuffix(input.analyzer))")
        ds.setString(.instanceNumber, vr: .IS, String(input.job.generation))
        ds.set(DataElement(tag: .referencedPerformedProcedureStepSequence, vr: .SQ, value: .sequence([])))
        ds.set(DataElement(tag: .contributingEquipmentSequence, vr: .SQ, value: .sequence([Self.contributingEquipment(input.analyzer)])))
        ds.setString(.completionFlag, vr: .CS, "PARTIAL")
        ds.setString(.verificationFlag, vr: .CS, "UNVERIFIED")
        ds.setString(.preliminaryFlag, vr: .CS, "PRELIMINARY")
        if let predecessor = input.predecessor {
            ds.set(DataElement(tag: .predecessorDocumentsSequence, vr: .SQ, value: .sequence([
                Self.hierarchicalReference(study: input.job.studyInstanceUID, [
                    ImageReference(seriesInstanceUID: predecessor.seriesInstanceUID, sopInstanceUID: predecessor.sopInstanceUID,
                                   sopClassUID: Self.comprehensive3DSRStorage),
                ]),
            ])))
        }
        ds.set(DataElement(tag: .performedProcedureCodeSequence, vr: .SQ, value: .sequence([])))
        ds.set(DataElement(tag: .currentRequestedProcedureEvidenceSequence, vr: .SQ, value: .sequence([
            Self.hierarchicalReference(study: input.job.studyInstanceUID, evaluated),
        ])))
        root.encode(into: &ds)
        let bytes = try Part10Writer.write(ds)
        return Report(bytes: bytes, dataSet: ds, seriesInstanceUID: seriesUID, sopInstanceUID: sopUID,
                      groupObservationUIDs: groupUIDs, itemObservationUIDs: itemUIDs)
    }

    /// Every instance the groups refer to, once, in first-mention order.
    static func evaluatedImages(_ result: AnalysisResult) -> [ImageReference] {
        var seen = Set<String>()
        var images: [ImageReference] = []
        for reference in result.groups.flatMap(\.references) where seen.insert(reference.sopInstanceUID).inserted {
            images.append(ImageReference(seriesInstanceUID: reference.seriesInstanceUID, sopInstanceUID: reference.sopInstanceUID,
                                         sopClassUID: reference.sopClassUID))
        }
        return images
    }

    /// SOP Instance Reference Macro items grouped by series (PS3.3 Table C.17-3).
    static func hierarchicalReference(study: String, _ images: [ImageReference]) -> DataSet {
        var item = DataSet()
        item.setString(.studyInstanceUID, vr: .UI, study)
        let bySeries = Dictionary(grouping: images, by: \.seriesInstanceUID)
        item.set(DataElement(tag: .referencedSeriesSequence, vr: .SQ, value: .sequence(bySeries.keys.sorted().map { series in
            var seriesItem = DataSet()
            seriesItem.setString(.seriesInstanceUID, vr: .UI, series)
            seriesItem.set(DataElement(tag: .referencedSOPSequence, vr: .SQ, value: .sequence((bySeries[series] ?? []).map { image in
                var sop = DataSet()
                sop.setString(.referencedSOPClassUID, vr: .UI, image.sopClassUID)
                sop.setString(.referencedSOPInstanceUID, vr: .UI, image.sopInstanceUID)
                return sop
            })))
            return seriesItem
        })))
        return item
    }

    /// IHE AIR's Contributing Equipment item for the algorithm.
    static func contributingEquipment(_ analyzer: AnalyzerIdentity) -> DataSet {
        var item = DataSet(characterSet: .utf8)
        item.set(SRCode.sequence(.purposeOfReferenceCodeSequence, SRCodes.processingAlgorithm))
        item.setString(.manufacturer, vr: .LO, analyzer.manufacturer)
        item.setString(.manufacturerModelName, vr: .LO, analyzer.name)
        item.setString(.softwareVersions, vr: .LO, analyzer.version)
        item.setString(.deviceUID, vr: .UI, ResultUIDs.deviceUID(analyzer))
        return item
    }

    /// CID 29 (Acquisition Modality) codes of the common modalities.
    static func modalityCode(_ modality: String) -> CodedConcept {
        let meanings = ["CT": "Computed Tomography", "MR": "Magnetic Resonance", "CR": "Computed Radiography",
                        "DX": "Digital Radiography", "US": "Ultrasound", "MG": "Mammography", "PT": "Positron emission tomography",
                        "NM": "Nuclear Medicine", "XA": "X-Ray Angiography", "RF": "Radio Fluoroscopy", "OT": "Other",
                        "IO": "Intra-oral Radiography", "PX": "Panoramic X-Ray", "ES": "Endoscopy", "XC": "External-camera Photography"]
        return .dcm(meanings[modality] == nil ? "OT" : modality, meanings[modality] ?? "Other")
    }

    /// CID 100 (Quantitative Diagnostic Imaging Procedures): the procedure of the study's modality.
    static func procedureCode(_ modalities: [String]) -> CodedConcept {
        if modalities.contains("CT") { return CodedConcept(scheme: "LN", code: "25045-6", meaning: "CT unspecified body region") }
        if modalities.contains("MR") { return CodedConcept(scheme: "LN", code: "25056-3", meaning: "MRI unspecified body region") }
        if !Set(modalities).isDisjoint(with: ["CR", "DX", "RG"]) {
            return CodedConcept(scheme: "LN", code: "43468-8", meaning: "XR unspecified body region")
        }
        return .sct("363679005", "Imaging procedure")
    }

    /// A series number for the analyzer's series, stable for a name and version.
    static func seriesNumberSuffix(_ analyzer: AnalyzerIdentity) -> String {
        String(Int(ResultUIDs.hexID(analyzer.reference).prefix(4), radix: 16).map { $0 % 1000 } ?? 0)
    }

    static func dateTime(_ date: Date) -> (String, String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return (String(format: "%04d%02d%02d", c.year!, c.month!, c.day!), String(format: "%02d%02d%02d", c.hour!, c.minute!, c.second!))
    }
}
