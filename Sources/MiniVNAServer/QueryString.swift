import Foundation

/// Query parameters in order, percent-decoded (`%2A` → `*`, `%5E` → `^`) before anything
/// matches on them. `+` stays `+` (it is not a space in DICOMweb query values such as DT offsets).
enum QueryString {
    static func parameters(_ query: String?) throws(DICOMwebError) -> [(key: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        var result: [(key: String, value: String)] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = String(parts[0]).removingPercentEncoding,
                  let value = (parts.count > 1 ? String(parts[1]) : "").removingPercentEncoding else {
                throw DICOMwebError(.badRequest, "query parameter \"\(pair)\" is not valid percent-encoding")
            }
            result.append((key, value))
        }
        return result
    }
}
