import Crypto
import Foundation
import JWTKit

/// A credentials setting that cannot be used, with the key that is wrong: `minivna serve`
/// refuses to start with it.
public struct SecurityConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Who may sign in and how: static API keys (kept as SHA-256 digests, never as the key),
/// HTTP Basic users (bcrypt hashes), and JWT bearer tokens from an identity provider. With
/// none of them configured authentication is off (`isEnabled` false), which `serve` allows on
/// loopback only unless told `--insecure-no-auth`.
public struct SecuritySettings: Sendable {
    public struct APIKey: Sendable, Hashable {
        public let name: String
        public let roles: Set<Role>
        /// Lowercase hex SHA-256 of the key.
        public let sha256: String
    }

    public struct User: Sendable, Hashable {
        public let name: String
        public let roles: Set<Role>
        /// `$2b$…` bcrypt hash of the password.
        public let bcrypt: String
    }

    /// Tokens of an identity provider: the keys that may sign them and the claims required.
    public struct JWT: Sendable, Hashable {
        /// HS256 shared secrets.
        public var hmacSecrets: [String] = []
        /// RS256 or ES256 public keys (PEM: SubjectPublicKeyInfo or a certificate).
        public var publicKeysPEM: [String] = []
        /// A JWKS document (RSA and EC keys with their `kid`).
        public var jwks: String?
        /// Required `iss`, when set.
        public var issuer: String?
        /// Required in `aud`, when set.
        public var audience: String?
        /// Clock skew allowed on `exp` and `nbf`.
        public var leewaySeconds: Double = 30

        public init() {}
    }

    public var apiKeys: [APIKey] = []
    public var users: [User] = []
    public var jwt: JWT?
    /// Allow a non-loopback address without authentication (a warning at start-up).
    public var insecureNoAuth = false

    public init() {}

    public var isEnabled: Bool { !apiKeys.isEmpty || !users.isEmpty || jwt != nil }

    /// Adds `name:roles:token` entries (comma-separated; roles joined by `+`), the form of
    /// `MINIVNA_API_KEYS` for demos and tests. The tokens are hashed at once.
    public mutating func addAPIKeys(fromList list: String, source: String = "MINIVNA_API_KEYS") throws(SecurityConfigurationError) {
        for (index, entry) in list.split(separator: ",").enumerated() {
            let parts = entry.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty, !parts[2].isEmpty else {
                throw SecurityConfigurationError("\(source) entry \(index + 1): expected name:role:token")
            }
            let roles: Set<Role>
            do { roles = try Role.parseList(parts[1]) } catch {
                throw SecurityConfigurationError("\(source) entry \(index + 1) (\(parts[0])): \(error.description)")
            }
            guard parts[2].count >= 16 else {
                throw SecurityConfigurationError("\(source) entry \(index + 1) (\(parts[0])): the token is shorter than 16 characters")
            }
            apiKeys.append(APIKey(name: String(parts[0]), roles: roles, sha256: Self.digest(String(parts[2]))))
        }
    }

    /// Reads a credentials file (JSON; see CONFORMANCE.md "Security"): every error names its key.
    public mutating func load(credentialsFile url: URL) throws(SecurityConfigurationError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SecurityConfigurationError("cannot read the credentials file \(url.path): \(error.localizedDescription)")
        }
        let file: CredentialsFile
        do { file = try JSONDecoder().decode(CredentialsFile.self, from: data) } catch {
            throw SecurityConfigurationError("credentials file \(url.path): \(Self.describe(error))")
        }
        let folder = url.deletingLastPathComponent()
        for (index, key) in (file.apiKeys ?? []).enumerated() {
            let path = "apiKeys[\(index)]"
            let digest = key.sha256.lowercased()
            guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else {
                throw SecurityConfigurationError("\(path).sha256: expected 64 hex digits (minivna hash-secret --api-key prints them)")
            }
            apiKeys.append(APIKey(name: key.name, roles: try Self.roles(key.roles, at: "\(path).roles"), sha256: digest))
        }
        for (index, user) in (file.users ?? []).enumerated() {
            let path = "users[\(index)]"
            guard user.bcrypt.hasPrefix("$2"), user.bcrypt.count == 60 else {
                throw SecurityConfigurationError("\(path).bcrypt: expected a bcrypt hash (minivna hash-secret --password prints one)")
            }
            users.append(User(name: user.name, roles: try Self.roles(user.roles, at: "\(path).roles"), bcrypt: user.bcrypt))
        }
        if let settings = file.jwt {
            var jwt = JWT()
            jwt.hmacSecrets = settings.hs256Secrets ?? []
            for (index, secret) in jwt.hmacSecrets.enumerated() where secret.utf8.count < 32 {
                throw SecurityConfigurationError("jwt.hs256Secrets[\(index)]: shorter than 32 bytes (\(secret.utf8.count))")
            }
            for (index, file) in (settings.publicKeyFiles ?? []).enumerated() {
                let keyURL = URL(fileURLWithPath: file, relativeTo: folder)
                guard let pem = try? String(contentsOf: keyURL, encoding: .utf8) else {
                    throw SecurityConfigurationError("jwt.publicKeyFiles[\(index)]: cannot read \(keyURL.path)")
                }
                guard (try? ProviderKeys.parse(pem)) != nil else {
                    throw SecurityConfigurationError("jwt.publicKeyFiles[\(index)]: \(keyURL.path) is not an RSA or P-256 public key or certificate in PEM")
                }
                jwt.publicKeysPEM.append(pem)
            }
            if let file = settings.jwksFile {
                let jwksURL = URL(fileURLWithPath: file, relativeTo: folder)
                guard let text = try? String(contentsOf: jwksURL, encoding: .utf8) else {
                    throw SecurityConfigurationError("jwt.jwksFile: cannot read \(jwksURL.path)")
                }
                do { _ = try JSONDecoder().decode(JWKS.self, from: Data(text.utf8)) } catch {
                    throw SecurityConfigurationError("jwt.jwksFile: \(jwksURL.path) is not a JWKS document (\(Self.describe(error)))")
                }
                jwt.jwks = text
            }
            guard !jwt.hmacSecrets.isEmpty || !jwt.publicKeysPEM.isEmpty || jwt.jwks != nil else {
                throw SecurityConfigurationError("jwt: no key (hs256Secrets, publicKeyFiles or jwksFile)")
            }
            jwt.issuer = settings.issuer
            jwt.audience = settings.audience
            if let leeway = settings.leewaySeconds {
                guard leeway >= 0, leeway <= 300 else { throw SecurityConfigurationError("jwt.leewaySeconds: expected 0...300") }
                jwt.leewaySeconds = leeway
            }
            self.jwt = jwt
        }
    }

    /// Lowercase hex SHA-256: how API keys are kept.
    public static func digest(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    private static func roles(_ names: [String], at path: String) throws(SecurityConfigurationError) -> Set<Role> {
        guard !names.isEmpty else { throw SecurityConfigurationError("\(path): at least one role") }
        do { return try Role.parseList(names.joined(separator: "+")) } catch {
            throw SecurityConfigurationError("\(path): \(error.description)")
        }
    }

    /// A decoding error as `key.path: what is wrong`.
    private static func describe(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.hasPrefix(".") ? String(keys.dropFirst()) : keys
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            let parent = path(context)
            return "\(parent.isEmpty ? "" : parent + ".")\(key.stringValue): missing"
        case DecodingError.typeMismatch(let type, let context), DecodingError.valueNotFound(let type, let context):
            return "\(path(context)): expected \(type)"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context)): \(context.debugDescription)"
        default: return "\(error)"
        }
    }

    /// The credentials file's shape.
    private struct CredentialsFile: Decodable {
        struct Key: Decodable { let name: String; let roles: [String]; let sha256: String }
        struct User: Decodable { let name: String; let roles: [String]; let bcrypt: String }
        struct JWTSettings: Decodable {
            let hs256Secrets: [String]?
            let publicKeyFiles: [String]?
            let jwksFile: String?
            let issuer: String?
            let audience: String?
            let leewaySeconds: Double?
        }
        let apiKeys: [Key]?
        let users: [User]?
        let jwt: JWTSettings?
    }
}
