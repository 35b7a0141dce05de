import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Limits that keep slow or idle clients from holding the server's connections: the time a
/// request's head may take to arrive, how long a body may stall, the slowest body rate accepted,
/// and how many connections one client address may hold.
public struct ConnectionLimits: Sendable {
    /// From the connection's start (or the previous response's end) to a complete request head.
    public var headerTimeout: Duration = .seconds(30)
    /// A body that sends nothing for this long while the server waits for it is cut off.
    public var bodyStallTimeout: Duration = .seconds(30)
    /// After `bodyRateGrace` of waiting for a body, one arriving slower than this is cut off.
    public var minimumBodyBytesPerSecond = 1024
    public var bodyRateGrace: Duration = .seconds(20)
    /// Connections held at once by one client address (0: no limit).
    public var maximumConnectionsPerClient = 256
    /// A connection with no request in flight for this long is closed.
    public var idleTimeout: Duration = .seconds(120)

    public init() {}
}

/// Counts open connections per client address, shared by every connection of a server.
final class ClientConnectionCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// Counts one more for `client`; false (and nothing counted) when it already holds `limit`.
    func open(_ client: String, limit: Int) -> Bool {
        counts.withLock { counts in
            let current = counts[client, default: 0]
            guard limit == 0 || current < limit else { return false }
            counts[client] = current + 1
            return true
        }
    }

    func close(_ client: String) {
        counts.withLock { counts in
            let remaining = counts[client, default: 1] - 1
            counts[client] = remaining > 0 ? remaining : nil
        }
    }

    func count(_ client: String) -> Int { counts.withLock { $0[client, default: 0] } }
}

/// Enforces `ConnectionLimits` on one connection, right after HTTP decoding: slow-loris clients
/// (a head trickled a byte at a time, which the decoder buffers until it is complete), stalled
/// or trickling bodies, and one address opening too many connections are cut off, while normal
/// clients are untouched. Body time is counted only while the server is asking for data
/// (outstanding `read`s), so a route that is slow to consume never gets its client cut off.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Phase {
        /// Waiting for a request head since this instant.
        case awaitingHead(since: NIODeadline)
        /// Reading a request's body.
        case body
        /// The request is complete; its response is not yet written.
        case responding
    }

    private let limits: ConnectionLimits
    private let counter: ClientConnectionCounter
    private var phase = Phase.awaitingHead(since: .now())
    private var client: String?
    private var started = false
    private var check: RepeatedTask?
    // Body progress, counted while the server waits for data.
    private var bodyBytes = 0
    private var waitedNanoseconds: Int64 = 0
    private var waitingSince: NIODeadline?
    private var lastBodyByte = NIODeadline.now()

    init(limits: ConnectionLimits, counter: ClientConnectionCounter) {
        self.limits = limits
        self.counter = counter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        phase = .awaitingHead(since: .now())
        if let address = context.channel.remoteAddress?.ipAddress {
            guard counter.open(address, limit: limits.maximumConnectionsPerClient) else {
                context.close(promise: nil)
                return
            }
            client = address
        }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let contextBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            loopBound.value.enforce(contextBound.value)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    private func stop() {
        check?.cancel()
        check = nil
        if let client { counter.close(client) }
        client = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = NIODeadline.now()
        if let since = waitingSince {
            waitedNanoseconds += (now - since).nanoseconds
            waitingSince = nil
        }
        switch unwrapInboundIn(data) {
        case .head:
            phase = .body
            bodyBytes = 0
            waitedNanoseconds = 0
            lastBodyByte = now
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            lastBodyByte = now
        case .end:
            phase = .responding
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if waitingSince == nil { waitingSince = .now() }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), case .responding = phase {
            // Keep-alive: the next request's head has `headerTimeout` from here.
            phase = .awaitingHead(since: .now())
        }
        context.write(data, promise: promise)
    }

    /// Once a second: close the connection when a limit is crossed.
    private func enforce(_ context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        switch phase {
        case .awaitingHead(let since):
            if now - since > TimeAmount(limits.headerTimeout) { context.close(promise: nil) }
        case .body:
            var waited = waitedNanoseconds
            if let since = waitingSince {
                waited += (now - since).nanoseconds
                // Nothing at all for the stall timeout while the server asked for data.
                if now - max(since, lastBodyByte) > TimeAmount(limits.bodyStallTimeout) {
                    context.close(promise: nil)
                    return
                }
            }
            let grace = TimeAmount(limits.bodyRateGrace).nanoseconds
            if limits.minimumBodyBytesPerSecond > 0, waited > grace, Double(bodyBytes) / (Double(waited) / 1e9) < Double(limits.minimumBodyBytesPerSecond) {
                context.close(promise: nil)
            }
        case .responding:
            break
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
