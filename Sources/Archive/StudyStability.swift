import Foundation

extension Archive {
    /// Emits `study.stable` for each study that received no new instance for the quiet period,
    /// until the task is cancelled (run by `minivna serve` as a service). The studies waiting
    /// and their last activity are primary data, updated with the relay of each event: a study
    /// whose last instance arrived before a crash becomes stable after the restart, once. An
    /// instance written back by the enrichment pipeline does not restart the quiet period (an
    /// AI result must not make its own study stable again).
    ///
    /// Deadlines are wall-clock times (they must outlive the process). Each round relays first,
    /// so an instance or a delete committed just before counts, and never sleeps longer than
    /// the quiet period, so a clock set back does not hold studies for as long as it went back.
    public func monitorStudyStability() async throws {
        let quiet = Double(configuration.studyQuietPeriod.components.seconds)
            + Double(configuration.studyQuietPeriod.components.attoseconds) / 1e18
        let (events, primary) = (self.events, self.primary)
        var seen = try await events.blocking { try events.latestSequence() }
        while !Task.isCancelled {
            let (studies, latest, oldest) = try await events.blocking {
                try events.relay()
                let now = Date().timeIntervalSince1970
                let (studies, latest) = try primary.markStable(quietBefore: now - quiet, now: now)
                return (studies, latest, try primary.oldestPendingActivity())
            }
            if !studies.isEmpty { await events.signal.announce(latest) }
            seen = max(seen, latest)
            if let oldest {
                let wait = min(quiet, max(0.001, oldest + quiet - Date().timeIntervalSince1970))
                try? await Task.sleep(for: .milliseconds(Int((wait * 1000).rounded(.up))))
            } else {
                // Nothing waits: sleep until the log grows (a new instance may start a quiet period).
                await events.waitForEvents(after: seen)
                seen = try await events.blocking { try events.latestSequence() }
            }
        }
    }
}
