/// A Person Name (PN) value: up to three component groups (alphabetic, ideographic, phonetic),
/// each with five components (family, given, middle, prefix, suffix). PS3.5 §6.2.1.
public struct PersonName: Hashable, Sendable, CustomStringConvertible {
    public struct ComponentGroup: Hashable, Sendable {
        /// The group as written, components joined by `^` (trailing empty components dropped by writers).
        public let rawValue: String
        public var components: [String] { rawValue.split(separator: "^", omittingEmptySubsequences: false).map(String.init) }
        public var familyName: String { component(0) }
        public var givenName: String { component(1) }
        public var middleName: String { component(2) }
        public var namePrefix: String { component(3) }
        public var nameSuffix: String { component(4) }

        private func component(_ i: Int) -> String {
            let c = components
            return i < c.count ? c[i] : ""
        }
    }

    /// The groups as written; empty trailing groups are kept out.
    public let groups: [ComponentGroup]

    /// Parses a decoded PN value (already split from its neighbours at backslashes).
    public init(_ text: String) {
        var parts = text.split(separator: "=", maxSplits: 2, omittingEmptySubsequences: false).map { ComponentGroup(rawValue: String($0)) }
        while let last = parts.last, last.rawValue.isEmpty, parts.count > 1 { parts.removeLast() }
        groups = parts
    }

    public var alphabetic: ComponentGroup? { groups.first }
    public var ideographic: ComponentGroup? { groups.count > 1 ? groups[1] : nil }
    public var phonetic: ComponentGroup? { groups.count > 2 ? groups[2] : nil }

    public var description: String { groups.map(\.rawValue).joined(separator: "=") }
}
