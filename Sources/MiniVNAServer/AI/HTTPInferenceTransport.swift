import AsyncHTTPClient
import Enrichment
import Foundation
import NIOCore
import NIOHTTP1

/// External services over one AsyncHTTPClient for the process (like `HTTPClient.shared`, it
/// lives as long as the process and needs no shutdown). A service that refuses connections
/// fails its request at once rather than after the pool's retries (the pipeline retries with
/// its own backoff), and connecting is bounded.
struct HTTPInferenceTransport: InferenceTransport {
    /// Answers larger than this are refused (a findings JSON with a SEG fits easily).
    static let maximumAnswerBytes = 512 << 20

    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    func postJSON(_ url: String, body: [UInt8], headers: [(String, String)], timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "MiniVNA")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await Self.client.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                                                       + timeout.components.attoseconds / 1_000_000_000))
        let bytes = try await response.body.collect(upTo: Self.maximumAnswerBytes)
        return (Int(response.status.code), Array(buffer: bytes))
    }
}
