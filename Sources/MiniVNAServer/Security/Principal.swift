/// Who sent a request, once authenticated: the name the audit records and `IngestContext`
/// carries, the roles the route table checks, and for an inference service's job token the one
/// study it may read.
public struct Principal: Sendable, Hashable {
    public enum Scheme: String, Sendable {
        case apiKey = "api-key", jwt, basic, jobToken = "job-token"
    }

    public let name: String
    public let roles: Set<Role>
    public let scheme: Scheme
    /// Set for `ai-service` job tokens: the only study the principal may read.
    public let studyScope: String?

    public init(name: String, roles: Set<Role>, scheme: Scheme, studyScope: String? = nil) {
        self.name = name
        self.roles = roles
        self.scheme = scheme
        self.studyScope = studyScope
    }

    func allows(_ permission: Permission) -> Bool {
        !roles.isDisjoint(with: permission.grantedBy)
    }

    /// Sorted role names, for audit records and messages.
    var roleNames: [String] { roles.map(\.rawValue).sorted() }
}
