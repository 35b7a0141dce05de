import Foundation

/// One entry of the archive's durable event log (see `ArchiveEventLog`).
public struct ArchiveEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        /// A new instance was committed to the index (never for an identical re-send).
        case instanceStored = "instance.stored"
        /// Different content replaced a stored instance (duplicate policy `replace`).
        case instanceReplaced = "instance.replaced"
        /// Instances were deleted: a whole study, a series of it, or one instance.
        case deleted = "instances.deleted"
        /// No new instance arrived for the study during the quiet period.
        case studyStable = "study.stable"
    }

    /// Position in the log: increases with every event, never reused.
    public let sequence: Int64
    public let kind: Kind
    public let studyInstanceUID: String
    public let seriesInstanceUID: String?
    public let sopInstanceUID: String?
    /// For stored and replaced instances: the way in.
    public let origin: IngestOrigin?
    public let principal: String?
    /// When the change committed.
    public let occurredAt: Date
    /// For `study.stable`: the study's stable generation this event starts (1 the first time it
    /// became stable, one more each time a later instance reopened it).
    public let generation: Int?
}

/// An event as the change's own transaction writes it into the index's outbox (`id` is the
/// outbox's row, nil before it is written).
struct OutboxEvent: Sendable, Hashable {
    var id: Int64?
    var kind: ArchiveEvent.Kind
    var studyInstanceUID: String
    var seriesInstanceUID: String?
    var sopInstanceUID: String?
    var origin: IngestOrigin?
    var principal: String?
    /// Seconds since 1970.
    var occurredAt: Double
}
