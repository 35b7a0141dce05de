import Archive
import DICOM
import Foundation
import Synchronization

/// The counts of an import as it runs, a progress bar on a terminal (stderr, redrawn at most
/// ten times a second), and the summary at the end: every file lands in exactly one count, and
/// failures are grouped by reason with a few example paths each.
final class ImportProgress: Sendable {
    enum Outcome: Sendable {
        case stored, alreadyStored, replaced
        case failed(String)
    }

    private struct State {
        var done = 0, stored = 0, alreadyStored = 0, replaced = 0, failed = 0, bytes = 0
        var failures: [String: [String]] = [:]
        var lastDrawn = 0.0
    }

    let total: Int
    let showsBar: Bool
    private let started = Date()
    private let state = Mutex(State())

    init(total: Int, showsBar: Bool) {
        self.total = total
        self.showsBar = showsBar
    }

    /// What went wrong, in words shared by every file that failed the same way (no path, no
    /// offsets), so the summary can group them.
    static func reason(_ error: any Error) -> String {
        guard let error = error as? ArchiveError else { return "cannot be read: \(error)" }
        switch error.code {
        case .cannotUnderstand: return "not a DICOM instance the archive can read"
        case .invalidInstance: return "a required attribute is missing or malformed: \(error.reason)"
        case .conflict: return "same SOP Instance UID as a stored instance, different content (--duplicates reject)"
        case .storage: return "the data folder refused the write"
        case .studyMismatch, .invalidQuery, .notFound: return error.reason
        }
    }

    func record(path: String, _ outcome: Outcome, bytes: Int) {
        let line: String? = state.withLock { state in
            state.done += 1
            state.bytes += bytes
            switch outcome {
            case .stored: state.stored += 1
            case .alreadyStored: state.alreadyStored += 1
            case .replaced: state.replaced += 1
            case .failed(let reason):
                state.failed += 1
                state.failures[reason, default: []].append(path)
            }
            guard showsBar else { return nil }
            let now = Date().timeIntervalSince(started)
            guard now - state.lastDrawn >= 0.1 || state.done == total else { return nil }
            state.lastDrawn = now
            return bar(state, elapsed: now)
        }
        if case .failed(let reason) = outcome, !showsBar {
            FileHandle.standardError.write(Data("skipped \(path): \(reason)\n".utf8))
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    private func bar(_ state: State, elapsed: Double) -> String {
        let width = 30
        let filled = total == 0 ? width : width * state.done / total
        let rate = elapsed > 0 ? Double(state.bytes) / elapsed / 1_048_576 : 0
        return "\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
            + "\(state.done)/\(total) files, \(state.failed) failed, \(String(format: "%.1f", rate)) MB/s"
    }

    /// The summary (the progress bar's line is finished first).
    func finish() -> String {
        let elapsed = Date().timeIntervalSince(started)
        return state.withLock { state in
            if showsBar { FileHandle.standardError.write(Data((bar(state, elapsed: elapsed) + "\n").utf8)) }
            var lines = ["imported \(state.stored), already stored \(state.alreadyStored), replaced \(state.replaced), "
                         + "failed \(state.failed) of \(total) files in \(String(format: "%.1f", elapsed)) s "
                         + "(\(String(format: "%.1f", Double(state.bytes) / 1_048_576)) MB)"]
            for (reason, paths) in state.failures.sorted(by: { $0.value.count > $1.value.count || ($0.value.count == $1.value.count && $0.key < $1.key) }) {
                let examples = paths.sorted().prefix(3).joined(separator: ", ")
                lines.append("  \(paths.count) failed: \(reason) (e.g. \(examples)\(paths.count > 3 ? ", …" : ""))")
            }
            return lines.joined(separator: "\n")
        }
    }
}
