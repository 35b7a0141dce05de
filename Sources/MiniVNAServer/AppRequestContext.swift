import HTTPTypes
import Hummingbird
import NIOCore

/// What MiniVNA's middleware and routes know about a request besides the request itself: who
/// sent it (once authentication exists), from where, and the connection to answer
/// `Expect: 100-continue` on when a route accepts the request.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated principal (a user or a service), set by an authenticator middleware on
    /// the `/dicom-web` or `/fhir` group; nil while the request is anonymous, as every request is
    /// until MiniVNA authenticates. It is what `IngestContext.principal` records.
    public var principal: String?
    /// The client's address, when the request came over a socket (nil in in-process tests).
    public let clientAddress: SocketAddress?
    /// The request's connection: `continueIfExpected(_:)` answers 100 Continue through it.
    private let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        principal = nil
        channel = source.channel
        clientAddress = source.channel.remoteAddress
    }

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
