import Foundation

/// What happened in the archive, for subscribers (AI hooks, webhooks, FHIR) in this process.
public enum ArchiveEvent: Sendable, Hashable {
    /// An instance was committed to the index (after its file is durable).
    case instanceStored(sopInstanceUID: String, seriesInstanceUID: String, studyInstanceUID: String)
    /// No new instance arrived for the study during the quiet period.
    case studyStable(studyInstanceUID: String)
    /// Instances were deleted: a whole study, a series of it, or one instance.
    case deleted(studyInstanceUID: String, seriesInstanceUID: String?, sopInstanceUID: String?)
}

/// An in-process event stream with any number of subscribers, and the study-stable timers.
public actor ArchiveEvents {
    private var subscribers: [UUID: AsyncStream<ArchiveEvent>.Continuation] = [:]
    private var stableTimers: [String: Task<Void, Never>] = [:]
    private let quietPeriod: Duration

    public init(quietPeriod: Duration) {
        self.quietPeriod = quietPeriod
    }

    /// A stream of every event published after this call.
    public func subscribe() -> AsyncStream<ArchiveEvent> {
        let id = UUID()
        let (stream, continuation) = AsyncStream<ArchiveEvent>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id) }
        }
        return stream
    }

    private func unsubscribe(_ id: UUID) {
        subscribers[id] = nil
    }

    func publish(_ event: ArchiveEvent) {
        for continuation in subscribers.values { continuation.yield(event) }
    }

    /// Publishes `instanceStored` and (re)starts the study's quiet-period timer.
    func instanceStored(sopInstanceUID: String, seriesInstanceUID: String, studyInstanceUID: String) {
        publish(.instanceStored(sopInstanceUID: sopInstanceUID, seriesInstanceUID: seriesInstanceUID,
                                studyInstanceUID: studyInstanceUID))
        stableTimers[studyInstanceUID]?.cancel()
        let period = quietPeriod
        stableTimers[studyInstanceUID] = Task { [weak self] in
            do { try await Task.sleep(for: period) } catch { return }
            await self?.studyBecameStable(studyInstanceUID)
        }
    }

    private func studyBecameStable(_ studyInstanceUID: String) {
        stableTimers[studyInstanceUID] = nil
        publish(.studyStable(studyInstanceUID: studyInstanceUID))
    }

    /// Stops the timers and ends every stream (at shutdown).
    public func finish() {
        for timer in stableTimers.values { timer.cancel() }
        stableTimers.removeAll()
        for continuation in subscribers.values { continuation.finish() }
        subscribers.removeAll()
    }
}
