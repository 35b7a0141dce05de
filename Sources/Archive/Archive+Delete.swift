import Foundation

/// Readers that are streaming a study's files. A delete removes the index rows at once (new
/// requests see nothing) but unlinks the files only when no reader that started before it is
/// still streaming them, so a concurrent retrieve gets all of the study or none of it.
///
/// A reader takes its lease *before* it reads the rows: either its read comes after the delete
/// committed (it finds nothing), or its lease exists when the delete looks for leases.
public actor ReadLeases {
    private var counts: [String: Int] = [:]
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    public func acquire(study: String) {
        counts[study, default: 0] += 1
    }

    public func release(study: String) {
        guard let count = counts[study] else { return }
        if count > 1 {
            counts[study] = count - 1
        } else {
            counts[study] = nil
            for waiter in waiters.removeValue(forKey: study) ?? [] { waiter.resume() }
        }
    }

    /// Whether no reader holds a lease on the study now.
    func isFree(study: String) -> Bool {
        counts[study] == nil
    }

    /// Returns when no lease on the study is held.
    func waitUntilFree(study: String) async {
        guard counts[study] != nil else { return }
        await withCheckedContinuation { waiters[study, default: []].append($0) }
    }
}

extension Archive {
    /// Runs `body` (which reads the selector's rows and streams their files) under a lease on the
    /// study, so a concurrent delete leaves the files in place until it is done.
    public func withReadLease<T: Sendable>(study: String, _ body: () async throws -> T) async rethrows -> T {
        await leases.acquire(study: study)
        do {
            let result = try await body()
            await leases.release(study: study)
            return result
        } catch {
            await leases.release(study: study)
            throw error
        }
    }

    /// Deletes every instance the selector names: index rows (counts, empty series and studies
    /// with them), the files to remove and the `instances.deleted` event, in one transaction (the
    /// event exists if and only if the delete committed); the files go once no reader is
    /// streaming them (and at the next start-up if the process stops first). Returns the number
    /// of instances deleted.
    @discardableResult
    public func delete(_ selector: InstanceSelector, principal: String? = nil) async throws -> Int {
        let deleted = try await index.transaction({ transaction in
            let rows = try transaction.deleteInstances(selector)
            for row in rows {
                try transaction.recordPendingDeletion(path: row.path, studyInstanceUID: selector.study)
            }
            if !rows.isEmpty {
                // A delete that took the study's last instance deleted the study: it says so, and
                // the study stops waiting to become stable.
                let studyGone = try !transaction.storedStudyExists(selector.study)
                try transaction.append(OutboxEvent(kind: .deleted, studyInstanceUID: selector.study,
                                                   seriesInstanceUID: studyGone ? nil : selector.series,
                                                   sopInstanceUID: studyGone ? nil : selector.instance,
                                                   origin: nil, principal: principal, occurredAt: Date().timeIntervalSince1970))
            }
            return rows.count
        }, committed: {})
        guard deleted > 0 else { throw try notFound(selector) }
        events.relaySoon()
        await removeDeletedFilesWhenUnread(study: selector.study)
        return deleted
    }

    /// Removes the files of the study's committed deletions (and replacements): now when no
    /// reader holds the study (one that starts later reads the committed rows, which no longer
    /// name them), else once the readers that started before are done.
    func removeDeletedFilesWhenUnread(study: String) async {
        if await leases.isFree(study: study) {
            try? removeFilesOfCommittedDeletions(study: study)
            return
        }
        Task { [self] in
            await leases.waitUntilFree(study: study)
            try? removeFilesOfCommittedDeletions(study: study)
        }
    }

    /// Unlinks the files of committed deletions and replacements (of one study, or all at start-up
    /// when no reader exists) and forgets them. A path that an instance stored again since then
    /// uses is kept.
    func removeFilesOfCommittedDeletions(study: String? = nil) throws {
        let pending = try index.pendingDeletions(study: study)
        guard !pending.isEmpty else { return }
        try index.settlePendingDeletions(pending) { path in
            unlink(store.url(forRelativePath: path).path) == 0 || errno == ENOENT
        }
    }
}
