/// Where an instance came from. Events carry it, so a consumer can tell an AI result from a new
/// image (the AI pipeline must never re-trigger on its own output).
public enum IngestOrigin: String, Sendable, CaseIterable, Codable {
    /// STOW-RS.
    case stow
    /// `minivna import`.
    case `import`
    /// A DICOM C-STORE.
    case dimse
    /// Results written back by the archive's own AI enrichment.
    case enrichment
}

/// Who stored an instance and through which way in: every way in calls `Archive.ingest` with one.
public struct IngestContext: Sendable, Hashable {
    public var origin: IngestOrigin
    /// The authenticated principal (a user, a service, an AE title), when known.
    public var principal: String?
    /// What a different instance with a stored SOP Instance UID does, when not the archive's
    /// configured policy: the enrichment pipeline replaces its own earlier version of a result
    /// (its UIDs are fixed by the job, its content by the analysis).
    public var duplicatePolicy: DuplicatePolicy?

    public init(origin: IngestOrigin, principal: String? = nil, duplicatePolicy: DuplicatePolicy? = nil) {
        self.origin = origin
        self.principal = principal
        self.duplicatePolicy = duplicatePolicy
    }

    /// Instances stored through STOW-RS by an unauthenticated client.
    public static let stow = IngestContext(origin: .stow)
    /// Instances stored by `minivna import`.
    public static let `import` = IngestContext(origin: .import)
}
