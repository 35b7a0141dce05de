/// Where an element sits in a (possibly nested) dataset: tags and item indexes from the top.
public struct ElementPath: Hashable, Sendable, CustomStringConvertible {
    public struct Step: Hashable, Sendable {
        public let tag: Tag
        /// The item index inside `tag`'s sequence, for every step but the last.
        public let item: Int?
    }

    public let steps: [Step]

    public init(steps: [Step] = []) { self.steps = steps }

    public var tag: Tag? { steps.last?.tag }

    func appending(_ tag: Tag) -> ElementPath { ElementPath(steps: steps + [Step(tag: tag, item: nil)]) }

    func enteringItem(_ index: Int) -> ElementPath {
        guard let last = steps.last else { return self }
        return ElementPath(steps: steps.dropLast() + [Step(tag: last.tag, item: index)])
    }

    /// `00540016/0/00181072`: tags and item indexes joined by slashes, as used in bulk data URIs.
    public var description: String {
        steps.map { step in step.item.map { "\(step.tag.hexString)/\($0)" } ?? step.tag.hexString }.joined(separator: "/")
    }
}

/// Decides which binary values the DICOM JSON / XML encoders emit as BulkDataURI instead of
/// InlineBinary: OB, OD, OF, OL, OV, OW and UN values longer than `threshold` bytes, encapsulated
/// Pixel Data whose item stream is longer than that, and values still in the file. The caller builds the URI (the server knows its URLs).
public struct BulkDataPolicy: Sendable {
    public var threshold: Int
    public var uri: @Sendable (ElementPath) -> String

    public init(threshold: Int = 1024, uri: @escaping @Sendable (ElementPath) -> String) {
        self.threshold = threshold
        self.uri = uri
    }

    func uriIfBulk(_ element: DataElement, path: ElementPath) -> String? {
        switch element.value {
        case .encapsulated(let pixels): return pixels.itemStreamLength > threshold ? uri(path) : nil
        case .bytes(.deferred): return uri(path)
        case .bytes(.loaded(let bytes)):
            return element.vr.isBulkBinary && bytes.count > threshold ? uri(path) : nil
        case .sequence: return nil
        }
    }
}
