import DICOM

/// One node of an SR content tree (PS3.3 C.17.3): what the SR builder assembles and the DICOM
/// module's writer encodes, and what the validator reads back from a dataset.
public struct SRContentItem: Sendable, Hashable {
    public enum Value: Sendable, Hashable {
        /// `continuous`: Continuity of Content CONTINUOUS (else SEPARATE); a template the
        /// container follows (`1500`), named in Content Template Sequence.
        case container(continuous: Bool, template: String?)
        case code(CodedConcept)
        case text(String)
        case uidReference(String)
        case number(Double?, unit: CodedConcept)
        case image(sopClassUID: String, sopInstanceUID: String, frames: [Int]?)
    }

    /// Nil for the root.
    public var relationship: String?
    public var concept: CodedConcept?
    public var value: Value
    public var observationUID: String?
    public var children: [SRContentItem]

    public init(_ relationship: String?, _ concept: CodedConcept?, _ value: Value, observationUID: String? = nil,
                children: [SRContentItem] = []) {
        self.relationship = relationship
        self.concept = concept
        self.value = value
        self.observationUID = observationUID
        self.children = children
    }

    public var valueType: String {
        switch value {
        case .container: "CONTAINER"
        case .code: "CODE"
        case .text: "TEXT"
        case .uidReference: "UIDREF"
        case .number: "NUM"
        case .image: "IMAGE"
        }
    }

    /// Writes the item's attributes into `dataSet` (the root's go into the SR's top level).
    func encode(into dataSet: inout DataSet) {
        if let relationship { dataSet.setString(.relationshipType, vr: .CS, relationship) }
        dataSet.setString(.valueType, vr: .CS, valueType)
        if let concept { dataSet.set(SRCode.sequence(.conceptNameCodeSequence, concept)) }
        if let observationUID { dataSet.setString(.observationUID, vr: .UI, observationUID) }
        switch value {
        case .container(let continuous, let template):
            dataSet.setString(.continuityOfContent, vr: .CS, continuous ? "CONTINUOUS" : "SEPARATE")
            if let template {
                var item = DataSet()
                item.setString(.mappingResource, vr: .CS, "DCMR")
                item.setString(.templateIdentifier, vr: .CS, template)
                dataSet.set(DataElement(tag: .contentTemplateSequence, vr: .SQ, value: .sequence([item])))
            }
        case .code(let code):
            dataSet.set(SRCode.sequence(.conceptCodeSequence, code))
        case .text(let text):
            dataSet.setString(.textValue, vr: .UT, text)
        case .uidReference(let uid):
            dataSet.setString(.uid, vr: .UI, uid)
        case .number(let number, let unit):
            var measured = DataSet(characterSet: .utf8)
            measured.set(SRCode.sequence(.measurementUnitsCodeSequence, unit))
            if let number { measured.setString(.numericValue, vr: .DS, DecimalString.format(number)) }
            dataSet.set(DataElement(tag: .measuredValueSequence, vr: .SQ, value: .sequence([measured])))
        case .image(let sopClass, let sopInstance, let frames):
            var reference = DataSet()
            reference.setString(.referencedSOPClassUID, vr: .UI, sopClass)
            reference.setString(.referencedSOPInstanceUID, vr: .UI, sopInstance)
            if let frames, !frames.isEmpty { reference.setStrings(.referencedFrameNumber, vr: .IS, frames.map(String.init)) }
            dataSet.set(DataElement(tag: .referencedSOPSequence, vr: .SQ, value: .sequence([reference])))
        }
        if !children.isEmpty {
            dataSet.set(DataElement(tag: .contentSequence, vr: .SQ, value: .sequence(children.map { child in
                var item = DataSet(characterSet: dataSet.characterSet)
                child.encode(into: &item)
                return item
            })))
        }
    }
}

/// Code sequence items (PS3.3 Table 8.8-1): Code Value, or Long Code Value past 16 characters.
enum SRCode {
    static func item(_ concept: CodedConcept) -> DataSet {
        var item = DataSet(characterSet: .utf8)   // the SR's Specific Character Set (ISO_IR 192)
        if concept.code.count > 16 {
            item.setString(.longCodeValue, vr: .UC, concept.code)
        } else {
            item.setString(.codeValue, vr: .SH, concept.code)
        }
        item.setString(.codingSchemeDesignator, vr: .SH, concept.scheme)
        item.setString(.codeMeaning, vr: .LO, String(concept.meaning.prefix(64)))
        return item
    }

    static func sequence(_ tag: Tag, _ concept: CodedConcept) -> DataElement {
        DataElement(tag: tag, vr: .SQ, value: .sequence([item(concept)]))
    }

    /// The concept of a code sequence item, if it has one.
    static func concept(_ item: DataSet) -> CodedConcept? {
        guard let scheme = item.string(.codingSchemeDesignator),
              let code = item.string(.codeValue) ?? item.string(.longCodeValue) else { return nil }
        return CodedConcept(scheme: scheme, code: code, meaning: item.string(.codeMeaning) ?? "")
    }
}

/// DS values (PS3.5 §6.2: at most 16 characters) from doubles.
enum DecimalString {
    /// Callers pass finite values only (the pipeline refuses others before encoding).
    static func format(_ value: Double) -> String {
        precondition(value.isFinite, "DS values are finite")
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        for digits in stride(from: 15, through: 1, by: -1) {
            let text = String(format: "%.\(digits)g", value)
            if text.count <= 16 { return text }
        }
        return String(format: "%.1e", value)
    }
}
