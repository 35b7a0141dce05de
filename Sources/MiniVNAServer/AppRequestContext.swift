import HTTPTypes
import Hummingbird
import NIOCore

/// What MiniVNA's middleware and routes know about a request besides the request itself: who
/// sent it, from where, what the access audit will record of it, and the connection to answer
/// `Expect: 100-continue` on when a route accepts the request.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated principal, set by `AccessControlMiddleware`; nil while the request is
    /// anonymous (authentication off, or an open route).
    public var identity: Principal?
    /// What the audit records of this request beyond the request itself (the principal, the
    /// studies it touched); shared by reference, so a route's additions reach the audit
    /// middleware that wraps it.
    public let accessNote = AccessNote()
    /// The client's address, when the request came over a socket (nil in in-process tests).
    public let clientAddress: SocketAddress?
    /// The request's connection: `continueIfExpected(_:)` answers 100 Continue through it.
    private let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        identity = nil
        channel = source.channel
        clientAddress = source.channel.remoteAddress
    }

    /// The name `IngestContext.principal` records.
    public var principal: String? { identity?.name }

    /// Tells a client that sent `Expect: 100-continue` to send its body. A route calls this once
    /// it has accepted the request (its middleware ran and its own checks of the headers passed)
    /// and before it reads the body; a request refused before that gets its final status with no
    /// 100 Continue, so the client never starts sending a body that will be thrown away
    /// (RFC 9110 §10.1.1). Nothing is sent when the client did not ask, or already sent its body.
    func continueIfExpected(_ request: Request) async {
        guard ExpectContinueHandler.expectsContinue(request.headers) else { return }
        // Without the handler in the pipeline (in-process tests) the event fails: the client
        // then sends its body when its own wait ends, as with a server that never answers.
        try? await channel.triggerUserOutboundEvent(ExpectContinueHandler.SendContinue()).get()
    }
}
