import Crypto
import Foundation
import HTTPTypes
import HummingbirdAuth
import HummingbirdBcrypt
import JWTKit
import Synchronization

/// Turns a request's `Authorization` header into a `Principal`: a static API key or a JWT as
/// `Bearer`, a user and password as `Basic`, or a job token MiniVNA gave an inference service.
/// Nothing here logs a credential; a failure's reason names what was wrong, never the secret.
final class Authenticator: Sendable {
    enum Outcome: Sendable {
        /// No credential in the request.
        case none
        case authenticated(Principal)
        /// A credential that is not accepted, and why.
        case rejected(String)
    }

    private let keysByDigest: [String: SecuritySettings.APIKey]
    private let users: [String: SecuritySettings.User]
    private let jwtSettings: SecuritySettings.JWT?
    private let providerKeys: ProviderKeys?
    let jobTokens: JobTokenIssuer
    /// Passwords already checked (bcrypt costs ~0.2 s each): user → SHA-256 of the password.
    private let verifiedPasswords = Mutex<[String: String]>([:])

    /// Whether a Basic challenge is offered (users are configured).
    var offersBasic: Bool { !users.isEmpty }

    init(_ settings: SecuritySettings, jobTokens: JobTokenIssuer) {
        keysByDigest = Dictionary(settings.apiKeys.map { ($0.sha256, $0) }, uniquingKeysWith: { first, _ in first })
        users = Dictionary(settings.users.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        jwtSettings = settings.jwt
        self.jobTokens = jobTokens
        providerKeys = settings.jwt.map { ProviderKeys($0) }
    }

    func authenticate(_ fields: HTTPFields) async -> Outcome {
        guard let authorization = fields[.authorization] else { return .none }
        if let bearer = fields.bearer {
            return await authenticateBearer(bearer.token.trimmingCharacters(in: .whitespaces))
        }
        if authorization.hasPrefix("Basic ") {
            guard let basic = fields.basic else { return .rejected("the Basic credentials are not base64 of user:password") }
            return authenticateBasic(basic)
        }
        return .rejected("unsupported authorization scheme (Bearer or Basic)")
    }

    private func authenticateBearer(_ token: String) async -> Outcome {
        if let key = keysByDigest[SecuritySettings.digest(token)] {
            return .authenticated(Principal(name: key.name, roles: key.roles, scheme: .apiKey))
        }
        guard token.split(separator: ".", omittingEmptySubsequences: false).count == 3 else {
            return .rejected("the bearer token is not a known API key")
        }
        if let principal = await jobTokens.verify(token) { return .authenticated(principal) }
        guard let providerKeys, let settings = jwtSettings else { return .rejected("the bearer token is not a known API key") }
        let claims: BearerClaims
        do {
            claims = try await providerKeys.collection().verify(token, as: BearerClaims.self, iteratingKeys: true)
        } catch {
            return .rejected("the JWT's signature is not valid for the configured keys")
        }
        let now = Date()
        guard let exp = claims.exp else { return .rejected("the JWT has no exp claim") }
        guard (try? exp.verifyNotExpired(currentDate: now.addingTimeInterval(-settings.leewaySeconds))) != nil else {
            return .rejected("the JWT has expired")
        }
        if let nbf = claims.nbf, (try? nbf.verifyNotBefore(currentDate: now.addingTimeInterval(settings.leewaySeconds))) == nil {
            return .rejected("the JWT is not valid yet (nbf)")
        }
        if let issuer = settings.issuer, claims.iss?.value != issuer {
            return .rejected("the JWT's issuer is not \(issuer)")
        }
        if let audience = settings.audience, !(claims.aud?.value.contains(audience) ?? false) {
            return .rejected("the JWT's audience does not include \(audience)")
        }
        guard let subject = claims.sub?.value, !subject.isEmpty else { return .rejected("the JWT has no sub claim") }
        let roles = claims.roleNames.compactMap(Role.init(rawValue:))
        guard !roles.isEmpty else { return .rejected("the JWT grants no MiniVNA role (claim roles, or scope)") }
        // An identity provider cannot mint job tokens: a study-scoped service role comes only from MiniVNA.
        guard !roles.contains(.aiService) else { return .rejected("ai-service is granted by MiniVNA's job tokens only") }
        return .authenticated(Principal(name: subject, roles: Set(roles), scheme: .jwt))
    }

    private func authenticateBasic(_ basic: BasicAuthentication) -> Outcome {
        guard let user = users[basic.username] else { return .rejected("unknown user or wrong password") }
        let digest = SecuritySettings.digest(basic.password)
        if verifiedPasswords.withLock({ $0[user.name] }) != digest {
            guard Bcrypt.verify(basic.password, hash: user.bcrypt) else { return .rejected("unknown user or wrong password") }
            verifiedPasswords.withLock { $0[user.name] = digest }
        }
        return .authenticated(Principal(name: user.name, roles: user.roles, scheme: .basic))
    }
}

/// The identity provider's keys, parsed when the settings were read (a bad key stops start-up
/// there) and put into jwt-kit's collection, an actor, at the first token.
final class ProviderKeys: Sendable {
    private let settings: SecuritySettings.JWT
    private let keys = JWTKeyCollection()
    private let loaded = Mutex(false)

    init(_ settings: SecuritySettings.JWT) {
        self.settings = settings
    }

    func collection() async throws -> JWTKeyCollection {
        guard !loaded.withLock({ $0 }) else { return keys }
        // Each key under an id of its own, so that all are tried (`iteratingKeys`): keys added
        // without one replace each other as the collection's default.
        for (index, secret) in settings.hmacSecrets.enumerated() {
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: "configured-hs256-\(index)"))
        }
        for (index, pem) in settings.publicKeysPEM.enumerated() {
            let kid = JWKIdentifier(string: "configured-key-\(index)")
            switch try ProviderKeys.parse(pem) {
            case .rsa(let key): await keys.add(rsa: key, digestAlgorithm: .sha256, kid: kid)
            case .ecdsa(let key): await keys.add(ecdsa: key, kid: kid)
            }
        }
        if let jwks = settings.jwks { try await keys.add(jwksJSON: jwks) }
        loaded.withLock { $0 = true }
        return keys
    }

    enum PublicKey { case rsa(JWTKit.Insecure.RSA.PublicKey), ecdsa(ES256PublicKey) }

    /// An RS256 or ES256 verification key from a PEM public key or certificate.
    static func parse(_ pem: String) throws -> PublicKey {
        if let key = try? JWTKit.Insecure.RSA.PublicKey(pem: pem) { return .rsa(key) }
        if let key = try? JWTKit.Insecure.RSA.PublicKey(certificatePEM: pem) { return .rsa(key) }
        if let key = try? ES256PublicKey(pem: pem) { return .ecdsa(key) }
        return .ecdsa(try ES256PublicKey(certificate: pem))
    }
}

/// The claims MiniVNA reads from an identity provider's JWT. Roles come from `roles` (an array
/// or one string) or, failing that, from the space-separated `scope`.
struct BearerClaims: JWTPayload {
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var sub: SubjectClaim?
    var roles: RolesClaim?
    var scope: String?

    /// Time and audience checks need the configuration: the authenticator makes them.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    var roleNames: [String] {
        if let roles { return roles.names }
        return scope?.split(separator: " ").map(String.init) ?? []
    }

    /// `"roles": ["reader"]` or `"roles": "reader"`.
    struct RolesClaim: Codable, Sendable {
        let names: [String]

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) { names = [one] } else { names = try container.decode([String].self) }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(names)
        }
    }
}
