import Crypto
import Foundation

/// Late answers of external services: a job that got 202 waits here for the service's POST to
/// its callback URL. An answer that arrives before the wait begins is kept for it. Each
/// callback URL carries a token only this process can make (a keyed hash of the job id), so
/// nobody but the service that got the job can answer for it.
public actor PendingCallbacks {
    private var waiting: [Int64: CheckedContinuation<[UInt8], any Error>] = [:]
    private var expected: Set<Int64> = []
    private var early: [Int64: [UInt8]] = [:]
    private let key = SymmetricKey(size: .bits256)

    public init() {}

    /// The token of a job's callback URL.
    public nonisolated func token(for job: Int64) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(String(job).utf8), using: key)).map { String(format: "%02x", $0) }.joined()
    }

    public nonisolated func isValid(_ token: String, for job: Int64) -> Bool {
        token == self.token(for: job)
    }

    /// True while the job waits for (or may still get) a callback.
    public func isExpecting(_ job: Int64) -> Bool {
        expected.contains(job)
    }

    /// Before the job is sent: answers for it are accepted from now on.
    func expect(_ job: Int64) {
        expected.insert(job)
    }

    /// Hands a callback body to its job. False when no job expects one (unknown or finished).
    public func deliver(_ job: Int64, body: [UInt8]) -> Bool {
        guard expected.contains(job) else { return false }
        if let continuation = waiting.removeValue(forKey: job) {
            expected.remove(job)
            continuation.resume(returning: body)
        } else {
            early[job] = body
        }
        return true
    }

    /// The callback's body, or a timeout.
    func wait(_ job: Int64, timeout: Duration) async throws -> [UInt8] {
        if let body = early.removeValue(forKey: job) {
            expected.remove(job)
            return body
        }
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            await self?.fail(job, AnalysisFailure.timedOut("no callback within \(timeout.components.seconds) s"))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiting[job] = continuation
            }
        } onCancel: {
            Task { await self.fail(job, CancellationError()) }
        }
    }

    private func fail(_ job: Int64, _ error: any Error) {
        expected.remove(job)
        waiting.removeValue(forKey: job)?.resume(throwing: error)
    }

    /// Stops accepting answers for a job that ended otherwise.
    func forget(_ job: Int64) {
        expected.remove(job)
        early.removeValue(forKey: job)
    }
}
