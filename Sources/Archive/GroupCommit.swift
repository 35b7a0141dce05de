import Synchronization

/// Group commit: ingests that arrive while an index transaction is running wait for it to end and
/// then go together into the next one, so concurrent STOW requests share one durability barrier
/// and one WAL fsync instead of paying for them one after another (they queue behind SQLite's
/// single writer either way). A lone request is committed at once, as before.
///
/// The first submitter that finds nobody committing becomes the leader: it runs batches until
/// the queue is empty, then steps down. Every submitter gets back exactly its own results.
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
    /// batches if this submission leads; every submitter must pass the same function.
    func submit(_ items: [Item], committer: @escaping Committer) async -> [Outcome] {
        await withCheckedContinuation { continuation in
            let lead = state.withLock { state in
                state.queue.append(Submission(items: items, continuation: continuation))
                guard !state.leading else { return false }
                state.leading = true
                return true
            }
            if lead { Task { await self.lead(committer) } }
        }
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
