import HTTPTypes
@testable import MiniVNAServer
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

/// `Expect: 100-continue` is answered when the route accepts the request, never before.
@Suite struct ExpectContinueHandlerTests {
    static func head(expecting: Bool) -> HTTPRequestPart {
        var fields: HTTPFields = [.contentType: "multipart/related; boundary=b", .contentLength: "17179869184"]
        if expecting { fields[.expect] = "100-Continue" }
        return .head(HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1", path: "/dicom-web/studies", headerFields: fields))
    }

    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: ExpectContinueHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func nothingIsAnsweredUntilTheRouteAccepts() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.head(expecting: true))
        _ = try channel.readInbound(as: HTTPRequestPart.self)
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil, "answered before the route decided")
        try channel.triggerUserOutboundEvent(ExpectContinueHandler.SendContinue()).wait()
        guard case .head(let interim) = try channel.readOutbound(as: HTTPResponsePart.self) else {
            Issue.record("no 100 Continue once the route accepted")
            return
        }
        #expect(interim.status == .continue)
        // Once only.
        try channel.triggerUserOutboundEvent(ExpectContinueHandler.SendContinue()).wait()
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil)
        // The final response after the body is left as it is.
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        guard case .head(let final) = try channel.readOutbound(as: HTTPResponsePart.self) else { return }
        #expect(final.status == .ok && final.headerFields[.connection] == nil)
    }

    @Test func aRequestRefusedBeforeItsBodyGetsOnlyItsFinalStatusAndConnectionClose() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.head(expecting: true))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .unsupportedMediaType)))
        guard case .head(let final) = try channel.readOutbound(as: HTTPResponsePart.self) else {
            Issue.record("the final status was not written")
            return
        }
        #expect(final.status == .unsupportedMediaType)
        #expect(final.headerFields[.connection] == "close")
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        guard case .end = try channel.readOutbound(as: HTTPResponsePart.self) else {
            Issue.record("the response end was not written")
            return
        }
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil, "a 100 Continue after the refusal")
    }

    @Test func aClientThatSendsItsBodyWithoutWaitingGetsNo100() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.head(expecting: true))
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "--b")))
        try channel.triggerUserOutboundEvent(ExpectContinueHandler.SendContinue()).wait()
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil)
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .badRequest)))
        guard case .head(let final) = try channel.readOutbound(as: HTTPResponsePart.self) else { return }
        #expect(final.headerFields[.connection] == nil)
    }

    @Test func requestsWithoutTheExpectationAreUntouched() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.head(expecting: false))
        try channel.triggerUserOutboundEvent(ExpectContinueHandler.SendContinue()).wait()
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil)
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .unsupportedMediaType)))
        guard case .head(let final) = try channel.readOutbound(as: HTTPResponsePart.self) else { return }
        #expect(final.headerFields[.connection] == nil)
    }
}

/// In process (no channel handler to answer it), a request that expects 100 Continue is served
/// as any other: asking for the continue must neither fail nor wait.
@Suite struct ExpectContinueRouteTests {
    @Test func anAcceptedUploadThatExpects100IsStoredInProcess() async throws {
        let server = try TestServer()
        let body = TestServer.multipart([try TestServer.instance(sop: "2.25.1")])
        try await server.app.test(.router) { client in
            try await client.execute(uri: "/dicom-web/studies", method: .post,
                                     headers: [.contentType: TestServer.stowType, .expect: "100-continue"], body: body) { response in
                #expect(response.status == .ok)
            }
        }
        #expect(try server.archive.counts() == (1, 1, 1))
    }
}
