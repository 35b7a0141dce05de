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
    /// One timer per study that is not yet stable, and when it becomes stable. A new instance
    /// moves the deadline; the timer sleeps again when it finds it moved (a timer per instance,
    /// cancelled by the next, cost a task and a timer-queue update each).
    private var stableTimers: [String: Task<Void, Never>] = [:]
    private var stableDeadlines: [String: ContinuousClock.Instant] = [:]
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
        stableDeadlines[studyInstanceUID] = .now + quietPeriod
        guard stableTimers[studyInstanceUID] == nil else { return }
        stableTimers[studyInstanceUID] = Task { [weak self] in
            await self?.waitUntilStable(studyInstanceUID)
        }
    }

    private func waitUntilStable(_ studyInstanceUID: String) async {
        while let deadline = stableDeadlines[studyInstanceUID], ContinuousClock.now < deadline {
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
        }
        stableTimers[studyInstanceUID] = nil
        stableDeadlines[studyInstanceUID] = nil
        publish(.studyStable(studyInstanceUID: studyInstanceUID))
    }

    /// Stops the timers and ends every stream (at shutdown).
    public func finish() {
        for timer in stableTimers.values { timer.cancel() }
        stableTimers.removeAll()
        stableDeadlines.removeAll()
        for continuation in subscribers.values { continuation.finish() }
        subscribers.removeAll()
    }
}
