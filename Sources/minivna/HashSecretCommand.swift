import ArgumentParser
import HummingbirdBcrypt
import MiniVNAServer

/// `minivna hash-secret`: the digests a credentials file keeps instead of secrets.
struct HashSecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-secret",
        abstract: "Print what a credentials file stores for an API key (SHA-256) or a password (bcrypt)."
    )

    @Option(help: "An API key (at least 16 characters): prints its SHA-256 digest for apiKeys[].sha256.")
    var apiKey: String?

    @Option(help: "A password: prints its bcrypt hash for users[].bcrypt.")
    var password: String?

    func run() throws {
        switch (apiKey, password) {
        case (let key?, nil):
            guard key.count >= 16 else { throw ValidationError("--api-key must be at least 16 characters") }
            print(SecuritySettings.digest(key))
        case (nil, let password?):
            guard !password.isEmpty else { throw ValidationError("--password must not be empty") }
            print(Bcrypt.hash(password, cost: 12))
        default:
            throw ValidationError("give one of --api-key or --password")
        }
    }
}
