import Foundation
import Synchronization

/// The archive's events as a durable, ordered log with a cursor per consumer (a transactional
/// outbox). A change writes its event into the index's outbox in its own transaction, so the
/// event exists if and only if the change committed; the relay then copies outbox rows, in
/// order and once each, into the primary store's log, which survives restarts, reindexing and
/// the loss of the index. Consumers (AI, webhooks) read after their own cursor: at least once,
/// across restarts, never dropped because a consumer was slow.
///
/// Why two steps: the outbox row must commit with the change (same database file: SQLite does
/// not make a transaction across ATTACHed databases atomic in WAL mode), and the log must
/// outlive the index (a different file). Relaying is not on any response's path.
public final class ArchiveEventLog: Sendable {
    let index: any IndexStore
    let primary: any PrimaryStore
    let signal: EventSignal
    /// The index's outbox generation (fixed while the archive is open).
    let generation: String
    /// Outbox rows up to this one are in the primary log and may be forgotten by the index
    /// (pruned inside the next ingest transaction: no commit of its own).
    let relayedThrough = Atomic<Int64>(0)
    /// Outbox rows up to this one are known to be forgotten by the index: an ingest prunes only
    /// when the relay has moved past it (most batches then skip the statement).
    let prunedThrough = Atomic<Int64>(0)
    /// One relay at a time (each copies everything committed before it started).
    private let relaying = Mutex<Void>(())
    /// A background relay is scheduled and has not started yet: it covers later commits too.
    private let scheduled = Atomic<Bool>(false)

    init(index: any IndexStore, primary: any PrimaryStore) throws {
        self.index = index
        self.primary = primary
        signal = EventSignal(latest: try primary.latestSequence())
        var generation = try index.outboxGeneration()
        var through = try primary.relayedThrough(generation: generation)
        if try index.outboxHighWater() < through {
            // An index restored from an older copy numbers its outbox below what was relayed:
            // under its old generation its new events would be taken for relayed ones.
            generation = try index.renewOutboxGeneration()
            through = 0
        }
        self.generation = generation
        relayedThrough.store(through, ordering: .relaxed)
    }

    /// Events after `sequence`, oldest first.
    public func events(after sequence: Int64 = 0, limit: Int = 1_000) throws -> [ArchiveEvent] {
        try primary.events(after: sequence, limit: limit)
    }

    public func latestSequence() throws -> Int64 {
        try primary.latestSequence()
    }

    /// The last event `consumer` has handled (0 before its first).
    public func cursor(of consumer: String) throws -> Int64 {
        try primary.cursor(consumer: consumer)
    }

    public func advance(_ consumer: String, to sequence: Int64) throws {
        try primary.setCursor(consumer: consumer, to: sequence)
    }

    /// Returns once an event after `sequence` is in the log (or the task is cancelled).
    public func waitForEvents(after sequence: Int64) async {
        await signal.wait(beyond: sequence)
    }

    /// Hands every event after the consumer's cursor to `handle`, in order, advancing the cursor
    /// after each; then waits for more, until the task is cancelled. An event whose handling
    /// throws is handed again next time (at least once): `handle` must be idempotent.
    public func consume(as consumer: String, _ handle: (ArchiveEvent) async throws -> Void) async throws {
        var position = try await blocking { try self.cursor(of: consumer) }
        while !Task.isCancelled {
            let after = position
            let batch = try await blocking { try self.events(after: after, limit: 500) }
            for event in batch {
                try await handle(event)
                try await blocking { try self.advance(consumer, to: event.sequence) }
                position = event.sequence
            }
            if batch.isEmpty {
                // Past the log's end (events of kinds this version does not know are skipped).
                let latest = try await blocking { try self.latestSequence() }
                await waitForEvents(after: max(position, latest))
            }
        }
    }

    /// Runs SQLite work that blocks (reads, writes and their syncs) on a dispatch queue, not on a
    /// thread of Swift's cooperative pool, which has as many threads as cores (two here) and is
    /// what GRDB's async reads need to finish.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Self.blockingQueue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    private static let blockingQueue = DispatchQueue(label: "minivna.archive.blocking", qos: .utility, attributes: .concurrent)

    /// Copies committed outbox rows into the log until none is left; when it returns, every
    /// event committed before the call is in the log.
    func relay() throws {
        try relaying.withLock { _ in try relayPending() }
    }

    private func relayPending() throws {
        // Only the relay (serialized by `relaying`) moves it; opening the archive read it from
        // the primary store.
        var through = relayedThrough.load(ordering: .relaxed)
        while true {
            let pending = try index.outboxEvents(after: through, limit: 1_000)
            guard let last = pending.last?.id else { return }
            let latest = try primary.appendRelayed(pending, generation: generation)
            relayedThrough.store(last, ordering: .relaxed)
            through = last
            Task { [signal] in await signal.announce(latest) }
        }
    }

    /// Relays in the background (after a commit: not on the response's path), on a dispatch
    /// queue: the relay blocks on SQLite and its sync, which must not hold a thread of Swift's
    /// cooperative pool (two, on this kind of machine). It starts `relayDelay` after the first
    /// commit that asks, so the commits of that moment share one relay and one sync of the
    /// primary store (one relay per single-instance STOW doubled the device flushes). Nothing
    /// depends on the delay: the outbox is durable, and every open and close of the archive
    /// relays too.
    func relaySoon() {
        guard !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Self.relayQueue.asyncAfter(deadline: .now() + Self.relayDelay) { [self] in
            scheduled.store(false, ordering: .releasing)
            do {
                try relay()
            } catch {
                // The events wait in the outbox; try again in a second (and at every commit).
                Self.relayQueue.asyncAfter(deadline: .now() + .seconds(1)) { [self] in relaySoon() }
            }
        }
    }

    private static let relayQueue = DispatchQueue(label: "minivna.archive.relay", qos: .utility)
    static let relayDelay = DispatchTimeInterval.milliseconds(100)
}

/// Wakes consumers when the log grows. Only a wake-up: what happened is in the durable log, so
/// a consumer that was not waiting misses nothing.
actor EventSignal {
    private var latest: Int64
    private var waiters: [UUID: (beyond: Int64, continuation: CheckedContinuation<Void, Never>)] = [:]

    init(latest: Int64) {
        self.latest = latest
    }

    func announce(_ sequence: Int64) {
        latest = max(latest, sequence)
        for (id, waiter) in waiters where waiter.beyond < latest {
            waiters[id] = nil
            waiter.continuation.resume()
        }
    }

    func wait(beyond sequence: Int64) async {
        guard latest <= sequence else { return }
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled || latest > sequence {
                    continuation.resume()
                } else {
                    waiters[id] = (sequence, continuation)
                }
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    private func cancel(_ id: UUID) {
        waiters.removeValue(forKey: id)?.continuation.resume()
    }
}
