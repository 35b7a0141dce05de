import GRDB

/// The conditions of a filtered listing (`WHERE a = ? AND b >= ?`) with their arguments, each
/// added only when its value is set: the runs and the access audit filter this way.
struct WhereClause {
    private(set) var conditions: [String] = []
    private(set) var arguments: StatementArguments = []

    mutating func add(_ condition: String, _ value: (any DatabaseValueConvertible)?) {
        guard let value else { return }
        conditions.append(condition)
        arguments += [value]
    }

    /// `WHERE …`, or nothing when no condition is set.
    var sql: String { conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ") }
}
