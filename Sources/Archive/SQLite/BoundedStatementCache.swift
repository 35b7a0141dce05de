import GRDB
import Synchronization

/// Compiling a statement costs more than running a small indexed query (SQLite's parser plus
/// GRDB's authorizer callback per column: ~15% of a one-row QIDO request). GRDB keeps compiled
/// statements per connection, keyed by SQL text, without a bound; QIDO's SQL varies with the
/// query's keys and list lengths, so a client could grow that cache without end. Here the first
/// `capacity` distinct SQL texts are cached and any further ones compiled each time.
final class BoundedStatementCache: Sendable {
    private let admitted = Mutex<Set<String>>([])
    private let capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
    }

    func statement(_ db: Database, sql: String) throws -> Statement {
        let cacheable = admitted.withLock { set in
            if set.contains(sql) { return true }
            guard set.count < capacity else { return false }
            set.insert(sql)
            return true
        }
        return cacheable ? try db.cachedStatement(sql: sql) : try db.makeStatement(sql: sql)
    }
}
