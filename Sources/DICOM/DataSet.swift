/// An ordered collection of data elements (ascending tag order, as PS3.5 §7.1 requires),
/// together with the character set its text values are decoded with.
public struct DataSet: Hashable, Sendable, Sequence {
    /// Elements in ascending tag order.
    public private(set) var elements: [DataElement]
    /// The Specific Character Set in force: this dataset's own (0008,0005), or the enclosing one's.
    public var characterSet: SpecificCharacterSet

    public init(elements: [DataElement] = [], characterSet: SpecificCharacterSet = .default) {
        self.elements = elements.sorted { $0.tag < $1.tag }
        self.characterSet = characterSet
    }

    /// Builds from elements already in ascending order (the parser's fast path).
    init(sortedElements: [DataElement], characterSet: SpecificCharacterSet) {
        self.elements = sortedElements
        self.characterSet = characterSet
    }

    public var count: Int { elements.count }
    public var isEmpty: Bool { elements.isEmpty }
    public func makeIterator() -> IndexingIterator<[DataElement]> { elements.makeIterator() }

    private func index(of tag: Tag) -> (found: Bool, index: Int) {
        var low = 0
        var high = elements.count
        while low < high {
            let mid = (low + high) / 2
            let midTag = elements[mid].tag
            if midTag == tag { return (true, mid) }
            if midTag < tag { low = mid + 1 } else { high = mid }
        }
        return (false, low)
    }

    public subscript(tag: Tag) -> DataElement? {
        get {
            let (found, i) = index(of: tag)
            return found ? elements[i] : nil
        }
        set {
            let (found, i) = index(of: tag)
            switch (found, newValue) {
            case (true, let element?): elements[i] = element
            case (true, nil): elements.remove(at: i)
            case (false, let element?): elements.insert(element, at: i)
            case (false, nil): break
            }
        }
    }

    public func contains(_ tag: Tag) -> Bool { index(of: tag).found }

    /// Inserts or replaces an element.
    public mutating func set(_ element: DataElement) { self[element.tag] = element }

    @discardableResult
    public mutating func remove(_ tag: Tag) -> DataElement? {
        let old = self[tag]
        self[tag] = nil
        return old
    }

    // MARK: Typed access

    /// All values of a text element, decoded with the character set and with padding trimmed.
    public func strings(_ tag: Tag) -> [String]? {
        guard let element = self[tag], let bytes = element.bytes, element.vr.isString else { return nil }
        return TextValue.decode(bytes, vr: element.vr, characterSet: characterSet)
    }

    /// The first value of a text element.
    public func string(_ tag: Tag) -> String? {
        strings(tag)?.first
    }

    /// Integer value of a US, SS, UL, SL, SV, UV or IS element (first value).
    public func int(_ tag: Tag) -> Int? {
        guard let element = self[tag], let bytes = element.bytes else { return nil }
        return NumericValue.integers(bytes, vr: element.vr)?.first
    }

    /// All integer values of a binary integer or IS element.
    public func ints(_ tag: Tag) -> [Int]? {
        guard let element = self[tag], let bytes = element.bytes else { return nil }
        return NumericValue.integers(bytes, vr: element.vr)
    }

    /// Sets a text element; values are joined by backslashes and encoded in the character set.
    public mutating func setStrings(_ tag: Tag, vr: VR, _ values: [String]) {
        set(DataElement(tag: tag, vr: vr, bytes: TextValue.encode(values, vr: vr, characterSet: characterSet)))
    }

    public mutating func setString(_ tag: Tag, vr: VR, _ value: String) {
        setStrings(tag, vr: vr, [value])
    }
}
