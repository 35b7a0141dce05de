import Synchronization

/// Group commit: ingests that arrive while an index transaction is running wait for it to end and
/// then go together into the next one, so concurrent STOW requests share one durability barrier
/// and one WAL fsync instead of paying for them one after another (they queue behind SQLite's
/// single writer either way). A lone request is committed at once, as before.
///
/// A submitter that finds nobody committing commits its own items at once; what queued behind it
/// meanwhile is led by a new task, which runs batches until the queue is empty, then steps down.
/// Every submitter gets back exactly its own results.
final class GroupCommit<Item: Sendable, Outcome: Sendable>: Sendable {
    /// Commits one batch: each inner array is one submission; the answer has the same shape.
    typealias Committer = @Sendable ([[Item]]) async -> [[Outcome]]

    private struct Submission {
        let items: [Item]
        let continuation: CheckedContinuation<[Outcome], Never>
    }

    private struct State {
        var queue: [Submission] = []
        var leading = false
    }

    private let state = Mutex(State())

    init() {}

    /// Submissions waiting for the next batch (tests watch a batch form).
    var waiting: Int { state.withLock { $0.queue.count } }

    /// Commits `items` (in some batch) and returns their outcomes, in order. `committer` runs the
    /// batches if this submission leads; every submitter must pass the same function. A lone
    /// submission commits on its own task (no hop to another); whatever queued behind it is led
    /// on by a new task.
    func submit(_ items: [Item], committer: @escaping Committer) async -> [Outcome] {
        let leadsAlone = state.withLock { state in
            guard !state.leading else { return false }
            state.leading = true
            return true
        }
        if leadsAlone {
            let outcome = await committer([items])
            precondition(outcome.count == 1, "a group commit must answer every submission")
            handOver(committer)
            return outcome[0]
        }
        return await withCheckedContinuation { continuation in
            let lead = state.withLock { state in
                state.queue.append(Submission(items: items, continuation: continuation))
                guard !state.leading else { return false }
                state.leading = true
                return true
            }
            if lead { Task { await self.lead(committer) } }
        }
    }

    /// After an inline commit: steps down, or starts a leader for what queued meanwhile.
    private func handOver(_ committer: @escaping Committer) {
        let more = state.withLock { state in
            if state.queue.isEmpty { state.leading = false }
            return !state.queue.isEmpty
        }
        if more { Task { await self.lead(committer) } }
    }

    private func lead(_ committer: Committer) async {
        while true {
            let batch = state.withLock { state in
                let batch = state.queue
                state.queue.removeAll()
                if batch.isEmpty { state.leading = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let outcomes = await committer(batch.map(\.items))
            precondition(outcomes.count == batch.count, "a group commit must answer every submission")
            for (submission, outcome) in zip(batch, outcomes) {
                submission.continuation.resume(returning: outcome)
            }
        }
    }
}
