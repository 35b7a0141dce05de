import Crypto
import Foundation
import JWTKit
import Synchronization

/// The short-lived tokens MiniVNA gives an external inference service with its job: an HS256
/// JWT under a key made for this process, granting `ai-service` on one study until it expires.
/// A restart invalidates them, as it ends the jobs they were for.
final class JobTokenIssuer: Sendable {
    static let issuer = "minivna"
    static let audience = "minivna-job"
    static let keyID = JWKIdentifier(string: "minivna-job")

    private let key = HMACKey(key: SymmetricKey(size: .bits256))
    private let keys = JWTKeyCollection()
    private let loaded = Mutex(false)

    init() {}

    private func collection() async -> JWTKeyCollection {
        if !loaded.withLock({ $0 }) {
            await keys.add(hmac: key, digestAlgorithm: .sha256, kid: Self.keyID)
            loaded.withLock { $0 = true }
        }
        return keys
    }

    /// A token for `service` to read `study` for `lifetime`.
    func issue(study: String, service: String, lifetime: Duration) async -> String? {
        let claims = JobClaims(sub: .init(value: service), iss: .init(value: Self.issuer), aud: .init(value: [Self.audience]),
                               exp: .init(value: Date().addingTimeInterval(Double(lifetime.components.seconds))), study: study)
        return try? await collection().sign(claims, kid: Self.keyID)
    }

    /// The principal a job token stands for, or nil when it is not one of ours or has expired.
    func verify(_ token: String) async -> Principal? {
        guard let claims = try? await collection().verify(token, as: JobClaims.self) else { return nil }
        return Principal(name: claims.sub.value, roles: [.aiService], scheme: .jobToken, studyScope: claims.study)
    }

    struct JobClaims: JWTPayload {
        var sub: SubjectClaim
        var iss: IssuerClaim
        var aud: AudienceClaim
        var exp: ExpirationClaim
        var study: String

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
            try aud.verifyIntendedAudience(includes: JobTokenIssuer.audience)
            guard iss.value == JobTokenIssuer.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "issuer") }
        }
    }
}
