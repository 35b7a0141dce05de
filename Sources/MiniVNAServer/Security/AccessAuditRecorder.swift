import Archive
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Collects access-audit records off the response path and writes them in batches (one
/// transaction every `flushInterval`, or sooner when `batchLimit` are waiting), so auditing
/// every request costs no request a database write. Shutdown flushes what is left; a process
/// killed outright loses at most the last interval's records (CONFORMANCE.md says so).
public final class AccessAuditRecorder: Sendable {
    private struct State {
        var pending: [AccessRecord] = []
        var flushScheduled = false
    }

    let archive: Archive
    let logger: Logger
    let flushInterval: Duration
    let batchLimit: Int
    private let state = Mutex(State())
    static let maximumPending = 100_000

    public init(archive: Archive, logger: Logger, flushInterval: Duration = .milliseconds(250), batchLimit: Int = 512) {
        self.archive = archive
        self.logger = logger
        self.flushInterval = flushInterval
        self.batchLimit = batchLimit
    }

    func record(_ record: AccessRecord) {
        let (schedule, full) = state.withLock { state -> (Bool, Bool) in
            state.pending.append(record)
            let schedule = !state.flushScheduled
            state.flushScheduled = true
            return (schedule, state.pending.count >= batchLimit)
        }
        if full {
            Task { await flush() }
        } else if schedule {
            Task {
                try? await Task.sleep(for: flushInterval)
                await flush()
            }
        }
    }

    /// Writes every waiting record now.
    public func flush() async {
        let batch = state.withLock { state -> [AccessRecord] in
            defer {
                state.pending.removeAll(keepingCapacity: true)
                state.flushScheduled = false
            }
            return state.pending
        }
        guard !batch.isEmpty else { return }
        do {
            try await archive.recordAccess(batch)
        } catch {
            logger.error("access audit: \(batch.count) records could not be written: \(error)")
            // Kept for the next flush rather than dropped, up to a bound (a volume that stays
            // read-only must not exhaust memory): beyond it the oldest go, and the log says so.
            let dropped = state.withLock { state -> Int in
                state.pending.insert(contentsOf: batch, at: 0)
                let excess = max(0, state.pending.count - Self.maximumPending)
                state.pending.removeFirst(excess)
                return excess
            }
            if dropped > 0 { logger.error("access audit: \(dropped) records dropped: the store has refused writes too long") }
        }
    }
}

/// Runs beside the HTTP server: prunes records past the retention period once an hour, and
/// flushes the recorder when the server stops (it stops after the HTTP application, so the
/// last requests' records are in).
struct AccessAuditService: Service {
    let recorder: AccessAuditRecorder
    /// nil: keep records forever.
    let retention: Duration?

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if let retention {
                    let cutoff = Date().timeIntervalSince1970 - Double(retention.components.seconds)
                    do {
                        let removed = try await recorder.archive.pruneAccessRecords(before: cutoff)
                        if removed > 0 { recorder.logger.info("access audit: \(removed) records past retention removed") }
                    } catch {
                        recorder.logger.error("access audit retention: \(error)")
                    }
                }
                try await Task.sleep(for: .seconds(3600))
            }
        }
        await recorder.flush()
    }
}
