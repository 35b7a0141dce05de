/// What a principal may do. Roles are atomic (a credential may carry several: `reader+writer`),
/// except `admin`, which may do everything. The route → permission table says what each route
/// needs (`RoutePermissions`).
public enum Role: String, Sendable, Hashable, CaseIterable, Codable {
    /// QIDO, WADO, FHIR read, AI runs and results.
    case reader
    /// STOW, FHIR Observation write, AI analysis requests.
    case writer
    /// AI review actions.
    case reviewer
    /// An external inference service: read only, and only the study its job token names.
    case aiService = "ai-service"
    /// Delete, audit, configuration: everything.
    case admin

    /// `reader+writer` → both roles; names the bad one otherwise.
    static func parseList(_ text: some StringProtocol) throws(SecurityConfigurationError) -> Set<Role> {
        var roles: Set<Role> = []
        for name in text.split(separator: "+", omittingEmptySubsequences: false) {
            guard let role = Role(rawValue: String(name)) else {
                throw SecurityConfigurationError("unknown role '\(name)' (roles: \(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            roles.insert(role)
        }
        return roles
    }
}

/// What a route requires of the request's principal.
enum Permission: String, Sendable, Hashable {
    /// Anyone, even with authentication on: the root page and the health checks.
    case open
    /// The route checks a credential of its own (AI callbacks carry a per-job token).
    case ownToken
    case read
    case write
    case review
    case administer

    /// The roles that grant it (admin grants everything).
    var grantedBy: Set<Role> {
        switch self {
        case .open, .ownToken: Set(Role.allCases)
        case .read: [.reader, .aiService, .admin]
        case .write: [.writer, .admin]
        case .review: [.reviewer, .admin]
        case .administer: [.admin]
        }
    }
}
