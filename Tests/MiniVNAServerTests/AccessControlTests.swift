import Archive
import Crypto
import Enrichment
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
@testable import MiniVNAServer
import NIOCore
import Testing
import TestSupport

/// Access control in process: the permission table covers every route, every route × role
/// answers as the table says, JWTs and job tokens are checked, and requests are audited.
@Suite struct AccessControlTests {
    static let tokens: [Role: String] = [
        .reader: "reader-0123456789abcdef", .writer: "writer-0123456789abcdef", .reviewer: "reviewer-0123456789abcdef",
        .admin: "admin-0123456789abcdef",
    ]
    static let hmacSecret = "a-shared-secret-of-at-least-32-bytes"

    struct Server {
        let temporary: TemporaryArchive
        let access: AccessControl
        let router: Router<AppRequestContext>
        let app: Application<RouterResponder<AppRequestContext>>

        init(security: SecuritySettings? = nil) throws {
            temporary = try TemporaryArchive()
            var configuration = ServerConfiguration(dataDirectory: temporary.directory)
            configuration.metricsEnabled = true
            if let security {
                configuration.security = security
            } else {
                try configuration.security.addAPIKeys(fromList: AccessControlTests.tokens.map { "\($0.key.rawValue)-user:\($0.key.rawValue):\($0.value)" }
                    .joined(separator: ","))
                var jwt = SecuritySettings.JWT()
                jwt.hmacSecrets = [AccessControlTests.hmacSecret]
                jwt.issuer = "https://idp.test"
                jwt.audience = "minivna"
                configuration.security.jwt = jwt
            }
            let logger = Logger(label: "test")
            access = AccessControl(configuration, archive: temporary.archive, logger: logger)
            let pipeline = EnrichmentPipeline.make(configuration, archive: temporary.archive, logger: logger)
            router = buildRouter(configuration, archive: temporary.archive, enrichment: pipeline, access: access, logger: logger)
            app = Application(router: router)
        }

        func status(_ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:]) async throws -> HTTPResponse.Status {
            try await app.test(.router) { client in
                try await client.execute(uri: uri, method: method, headers: headers) { $0.status }
            }
        }
    }

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    @Test func everyRegisteredRouteHasAPermission() throws {
        let server = try Server()
        let permissions = RoutePermissions()
        let missing = server.router.routes.filter { permissions.permission($0.method, endpointPath: $0.path.description) == nil }
        #expect(missing.isEmpty, "routes without an entry in RoutePermissions: \(missing.map(\.description))")
        #expect(server.router.routes.count > 40)
    }

    /// A concrete URI for a route pattern, with this archive's study where the route names one.
    static func uri(_ pattern: String) -> String {
        pattern.split(separator: "/", omittingEmptySubsequences: false).map { component -> String in
            switch component {
            case "{study}": "2.25.100"
            case "{series}": "2.25.200"
            case "{instance}": "2.25.300"
            case "{frames}": "1"
            case "{type}": "ImagingStudy"
            case "{id}": "2.25.100"
            case "{job}": "1"
            case "**": "1"
            default: String(component)
            }
        }.joined(separator: "/")
    }

    @Test func everyRouteTimesEveryRoleAnswersAsTheTableSays() async throws {
        let server = try Server()
        _ = try await server.temporary.archive.ingest(bytes: try Fixture.instance(sop: "2.25.300", modality: "CT"))
        let permissions = RoutePermissions()
        var checked = 0
        for route in server.router.routes {
            let permission = try #require(permissions.permission(route.method, endpointPath: route.path.description))
            // Deletes aim at a study that is not there, so the matrix never removes its own data.
            let uri = route.method == .delete ? Self.uri(route.path.description).replacingOccurrences(of: "2.25.100", with: "2.25.999")
                                              : Self.uri(route.path.description)
            let anonymous = try await server.status(route.method, uri)
            if permission == .open || permission == .ownToken {
                #expect(anonymous != .unauthorized && anonymous != .forbidden, "\(route) anonymous: \(anonymous)")
                continue
            }
            #expect(anonymous == .unauthorized, "\(route) anonymous: \(anonymous)")
            for (role, token) in Self.tokens {
                let status = try await server.status(route.method, uri, headers: Self.bearer(token))
                if permission.grantedBy.contains(role) {
                    #expect(status != .unauthorized && status != .forbidden, "\(route) as \(role): \(status)")
                } else {
                    #expect(status == .forbidden, "\(route) as \(role): \(status)")
                }
                checked += 1
            }
        }
        #expect(checked > 150)
    }

    @Test func jwtsAreCheckedForSignatureTimeIssuerAndAudience() async throws {
        let server = try Server()
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: Self.hmacSecret), digestAlgorithm: .sha256)
        let other = JWTKeyCollection()
        await other.add(hmac: HMACKey(from: "some-other-secret-of-at-least-32-bytes"), digestAlgorithm: .sha256)
        func claims(exp: TimeInterval = 300, iss: String = "https://idp.test", aud: String = "minivna", roles: [String] = ["reader"])
            -> TestClaims {
            TestClaims(sub: "someone", iss: iss, aud: [aud], exp: Date().addingTimeInterval(exp).timeIntervalSince1970, roles: roles)
        }
        let good = try await keys.sign(claims())
        #expect(try await server.status(.get, "/dicom-web/studies", headers: Self.bearer(good)) == .ok)
        #expect(try await server.status(.post, "/dicom-web/studies", headers: Self.bearer(good)) == .forbidden)
        for bad in [try await keys.sign(claims(exp: -3600)), try await keys.sign(claims(aud: "other")),
                    try await keys.sign(claims(iss: "https://evil.test")), try await other.sign(claims()),
                    try await keys.sign(claims(roles: ["ai-service"])), try await keys.sign(claims(roles: ["unknown"]))] {
            #expect(try await server.status(.get, "/dicom-web/studies", headers: Self.bearer(bad)) == .unauthorized)
        }
    }

    struct TestClaims: JWTPayload {
        var sub: String
        var iss: String
        var aud: [String]
        var exp: Double
        var roles: [String]
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    @Test func aJobTokenReadsItsOwnStudyOnly() async throws {
        let server = try Server()
        _ = try await server.temporary.archive.ingest(bytes: try Fixture.instance(sop: "2.25.300", modality: "CT"))
        let token = try #require(await server.access.jobTokens.issue(study: "2.25.100", service: "lungs@1", lifetime: .seconds(3600)))
        #expect(try await server.status(.get, "/dicom-web/studies/2.25.100/series", headers: Self.bearer(token)) == .ok)
        #expect(try await server.status(.get, "/dicom-web/studies/2.25.100/metadata", headers: Self.bearer(token)) == .ok)
        #expect(try await server.status(.get, "/dicom-web/studies/2.25.101/metadata", headers: Self.bearer(token)) == .forbidden)
        #expect(try await server.status(.get, "/dicom-web/studies", headers: Self.bearer(token)) == .forbidden)
        #expect(try await server.status(.post, "/dicom-web/studies/2.25.100", headers: Self.bearer(token)) == .forbidden)
        let expired = try #require(await server.access.jobTokens.issue(study: "2.25.100", service: "lungs@1", lifetime: .seconds(-1)))
        #expect(try await server.status(.get, "/dicom-web/studies/2.25.100/series", headers: Self.bearer(expired)) == .unauthorized)
        // Another process's key: not ours.
        let stranger = try #require(await JobTokenIssuer().issue(study: "2.25.100", service: "lungs@1", lifetime: .seconds(3600)))
        #expect(try await server.status(.get, "/dicom-web/studies/2.25.100/series", headers: Self.bearer(stranger)) == .unauthorized)
    }

    @Test func withoutCredentialsEverythingIsOpenAndStillAudited() async throws {
        let server = try Server(security: SecuritySettings())
        #expect(try await server.status(.get, "/dicom-web/studies") == .ok)
        #expect(try await server.status(.get, "/audit") == .ok)
        #expect(try await server.status(.get, "/health/live") == .ok)
        await server.access.audit.flush()
        let (total, records) = try await server.temporary.archive.accessRecords(AccessRecordFilter(), limit: 10, offset: 0)
        // The health check is not recorded; the two data requests are, anonymous.
        #expect(total == 2 && records.allSatisfy { $0.principal == nil })
        #expect(Set(records.map(\.path)) == ["/dicom-web/studies", "/audit"])
    }

    @Test func auditRecordsPrincipalStudiesStatusAndBytes() async throws {
        let server = try Server()
        _ = try await server.temporary.archive.ingest(bytes: try Fixture.instance(sop: "2.25.300", modality: "CT"))
        #expect(try await server.status(.get, "/dicom-web/studies/2.25.100/metadata", headers: Self.bearer(Self.tokens[.reader]!)) == .ok)
        #expect(try await server.status(.delete, "/dicom-web/studies/2.25.100", headers: Self.bearer(Self.tokens[.reader]!)) == .forbidden)
        #expect(try await server.status(.get, "/dicom-web/studies?StudyInstanceUID=2.25.100") == .unauthorized)
        await server.access.audit.flush()
        let (total, records) = try await server.temporary.archive.accessRecords(AccessRecordFilter(studyInstanceUID: "2.25.100"),
                                                                                limit: 10, offset: 0)
        #expect(total == 3)
        let metadata = try #require(records.first { $0.path.hasSuffix("/metadata") })
        #expect(metadata.principal == "reader-user" && metadata.roles == ["reader"] && metadata.status == 200 && metadata.bytes > 100)
        #expect(records.contains { $0.method == "DELETE" && $0.status == 403 && $0.principal == "reader-user" })
        #expect(records.contains { $0.status == 401 && $0.principal == nil })
        let pruned = try await server.temporary.archive.pruneAccessRecords(before: Date().timeIntervalSince1970 + 1)
        #expect(pruned == 3)
    }

    @Test func metricsCountRequestsPerRouteAndStatusWithoutCredentials() async throws {
        let server = try Server()
        #expect(try await server.status(.get, "/dicom-web/studies", headers: Self.bearer(Self.tokens[.reader]!)) == .ok)
        let text = try await server.app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                return String(buffer: response.body)
            }
        }
        #expect(text.contains("http_server_request_duration"))
        #expect(text.contains(#"http_route="/dicom-web/studies""#))
        #expect(!text.contains("2.25."))
    }

    @Test func credentialsFileErrorsNameTheKey() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let cases: [(String, String)] = [
            (#"{"apiKeys": [{"name": "a", "roles": ["reader"], "sha256": "xyz"}]}"#, "apiKeys[0].sha256"),
            (#"{"apiKeys": [{"name": "a", "roles": ["boss"], "sha256": "\#(String(repeating: "a", count: 64))"}]}"#, "apiKeys[0].roles"),
            (#"{"users": [{"name": "a", "roles": ["reader"]}]}"#, "users[0].bcrypt"),
            (#"{"jwt": {"hs256Secrets": ["short"]}}"#, "jwt.hs256Secrets[0]"),
            (#"{"jwt": {"publicKeyFiles": ["missing.pem"]}}"#, "jwt.publicKeyFiles[0]"),
            (#"{"jwt": {}}"#, "jwt: no key"),
            (#"{"apiKeys": 3}"#, "apiKeys"),
        ]
        for (text, expected) in cases {
            let url = folder.appendingPathComponent("c.json")
            try Data(text.utf8).write(to: url)
            var settings = SecuritySettings()
            #expect(throws: SecurityConfigurationError.self) { try settings.load(credentialsFile: url) }
            do { try settings.load(credentialsFile: url) } catch {
                #expect(error.description.contains(expected), "\(text): \(error.description)")
            }
        }
        var settings = SecuritySettings()
        #expect(throws: SecurityConfigurationError.self) { try settings.addAPIKeys(fromList: "a:reader:short") }
        #expect(throws: SecurityConfigurationError.self) { try settings.addAPIKeys(fromList: "a:raeder:0123456789abcdef") }
        try settings.addAPIKeys(fromList: "a:reader+writer:0123456789abcdef")
        #expect(settings.apiKeys.first?.roles == [.reader, .writer])
        #expect(settings.apiKeys.first?.sha256 == SecuritySettings.digest("0123456789abcdef"))
    }
}
