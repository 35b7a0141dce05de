import Archive
import Synchronization

/// Encoded rendered images (JPEG or PNG) kept in memory up to a byte budget, least recently used
/// out first. Viewers ask for the same thumbnails every time a study list or a study opens, and
/// each rendering reads the file, decodes a frame and encodes an image; a hit costs the index
/// lookup of the study's validator and nothing else. (dcm4chee 2 kept a WADO cache of rendered
/// JPEGs for the same reason.)
///
/// Every key carries the study's validator (`Archive.studyValidator`), which changes whenever an
/// instance of the study is added, replaced or removed. An entry can therefore never answer for
/// a study that has changed: the changed study is a different key, and the old entries age out.
final class RenderedImageCache: Sendable {
    /// Everything a rendered response depends on.
    struct Key: Hashable, Sendable {
        let studyValidator: String
        let selector: InstanceSelector
        let frame: Int
        let representativesOnly: Bool
        /// The parsed rendering parameters (window, viewport, enlargement), spelled one way.
        let options: String
        let contentType: String
        let quality: Int

        /// Memory an entry's key and bookkeeping take besides the image (the UIDs and strings,
        /// the dictionary slot), counted against the budget so that small thumbnails cannot
        /// make the cache hold much more than it says.
        var overhead: Int {
            160 + studyValidator.utf8.count + selector.study.utf8.count + (selector.series?.utf8.count ?? 0)
                + (selector.instance?.utf8.count ?? 0) + options.utf8.count + contentType.utf8.count
        }
    }

    struct Statistics: Equatable, Sendable {
        var hits = 0
        var misses = 0
        var entries = 0
        var bytes = 0
    }

    private struct Entry {
        let image: [UInt8]
        /// What the entry counts against the budget: the array's capacity and the key's overhead.
        let cost: Int
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var clock: UInt64 = 0
        var statistics = Statistics()
    }

    /// Bytes kept at most (encoded images and their keys); 0 keeps nothing.
    let budget: Int
    private let state = Mutex(State())

    init(budget: Int) {
        self.budget = max(0, budget)
    }

    var isEnabled: Bool { budget > 0 }

    var statistics: Statistics { state.withLock { $0.statistics } }

    /// The image stored for `key`, if any (and marks it as just used).
    func image(for key: Key) -> [UInt8]? {
        guard isEnabled else { return nil }
        return state.withLock { state in
            state.clock += 1
            guard var entry = state.entries[key] else {
                state.statistics.misses += 1
                return nil
            }
            entry.lastUse = state.clock
            state.entries[key] = entry
            state.statistics.hits += 1
            return entry.image
        }
    }

    /// Keeps `image` for `key`. An entry costing more than a sixteenth of the budget is not kept
    /// (one huge rendering would push out hundreds of thumbnails). Over budget, the least
    /// recently used entries go until a quarter of the budget is free, so eviction (a sort) is
    /// rare.
    func insert(_ image: [UInt8], for key: Key) {
        let cost = image.capacity + key.overhead
        guard isEnabled, cost <= budget / 16 else { return }
        state.withLock { state in
            state.clock += 1
            if let old = state.entries.updateValue(Entry(image: image, cost: cost, lastUse: state.clock), forKey: key) {
                state.statistics.bytes -= old.cost
            } else {
                state.statistics.entries += 1
            }
            state.statistics.bytes += cost
            guard state.statistics.bytes > budget else { return }
            let target = budget - budget / 4
            for (oldKey, entry) in state.entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }) {
                guard state.statistics.bytes > target else { break }
                state.entries[oldKey] = nil
                state.statistics.bytes -= entry.cost
                state.statistics.entries -= 1
            }
        }
    }
}
