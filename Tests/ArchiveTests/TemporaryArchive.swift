@testable import Archive

extension Archive {
    /// The embedded index, for tests that reach into its tables.
    var sqliteIndex: SQLiteIndex { index as! SQLiteIndex }
}
