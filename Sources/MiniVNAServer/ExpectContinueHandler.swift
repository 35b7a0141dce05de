import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` only once the request path accepted the request: the route
/// asks for it (`AppRequestContext.continueIfExpected`, a `SendContinue` event) after its
/// middleware and its checks of the headers, right before it reads the body. Hummingbird does
/// not answer the expectation itself, and answering every request at once would let any client
/// start a 16 GiB upload that the route then refuses.
///
/// A request answered with a final status while its client still waits (the route refused it
/// before reading the body) gets `Connection: close`, and the server stops writing after that
/// response (RFC 9110 §10.1.1, RFC 9112 §9.6): the client will not send that body, and whatever
/// it sends meanwhile is read and dropped until it closes.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The route accepted the request: send 100 Continue if the client is waiting for it.
    struct SendContinue: Sendable {}

    private enum State {
        /// No client waiting (no expectation, already answered, or the body is already coming).
        case idle
        /// The client sent `Expect: 100-continue` and waits before sending its body.
        case waitingForDecision
        /// The response to such a request was final: close the output after its end.
        case refusedBeforeBody
    }

    private var state = State.idle

    /// Whether the headers carry the `100-continue` expectation (the only one HTTP defines).
    static func expectsContinue(_ headers: HTTPFields) -> Bool {
        headers[values: .expect].contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "100-continue" }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            state = Self.expectsContinue(head.headerFields) ? .waitingForDecision : .idle
        case .body, .end:
            // The client sends its body without waiting (or has none): nothing to answer.
            if state == .waitingForDecision { state = .idle }
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is SendContinue else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        guard state == .waitingForDecision else {
            promise?.succeed(())
            return
        }
        state = .idle
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: promise)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response) where state == .waitingForDecision && response.status.kind != .informational:
            state = .refusedBeforeBody
            response.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(response)), promise: promise)
        case .end where state == .refusedBeforeBody:
            state = .idle
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            context.writeAndFlush(data, promise: written)
            // Half-close: the response reaches the client before the FIN, and the input stays
            // open so a client that sends its body anyway is not reset before it reads the answer.
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(mode: .output, promise: nil) }
        default:
            context.write(data, promise: promise)
        }
    }
}
