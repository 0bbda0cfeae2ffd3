import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Sits right after the HTTP request decoder of every connection: answers what the decoder
/// refuses (400, 431) instead of leaving the client hanging, bounds how long a client may
/// take to send a request head (408) or sit idle between requests, closes a connection whose
/// response went out before its request body was read, and lets the server shed waiting
/// connections when it is near its connection limit.
///
/// - Important: Everything but `shed()` runs on the connection's event loop. On a WebSocket
///   upgrade the guard removes itself (the bytes that follow are frames, not HTTP) and leaves
///   an `UpgradeWatcher` that checks the frames' masking once the upgrade is done.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    enum Phase {
        /// Waiting for a request head (the first, or the next on a kept-alive connection).
        case waiting(first: Bool)
        /// A request is being answered.
        case active
    }

    private let limits: GuardLimits
    private let registry: ConnectionRegistry
    private var phase = Phase.waiting(first: true)
    private var requestEnded = true
    private var responseStarted = false
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private let id: UInt64

    init(limits: GuardLimits, registry: ConnectionRegistry) {
        self.limits = limits
        self.registry = registry
        id = registry.nextID()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        registry.add(id, channel: context.channel)
        arm(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        registry.remove(id)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            timer?.cancel()
            phase = .active
            requestEnded = false
            responseStarted = false
            registry.setWaiting(id, false)
            context.fireChannelRead(data)
            if head.asksForWebSocket {
                let ops = context.pipeline.syncOperations
                try? ops.addHandler(UpgradeWatcher(), position: .last)
                ops.removeHandler(context: context, promise: nil)
            }
        case .body:
            context.fireChannelRead(data)
        case .end:
            requestEnded = true
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        switch part {
        case .head: responseStarted = true
        case .body: break
        case .end:
            // A response sent before its request's body was read (413, 400, 401…): the rest of
            // that body would be read as the next request, so the connection ends here.
            if !requestEnded {
                let written = context.eventLoop.makePromise(of: Void.self)
                let channel = context.channel
                written.futureResult.whenComplete { _ in channel.close(promise: nil) }
                written.futureResult.cascade(to: promise)
                context.writeAndFlush(data, promise: written)
                return
            }
            phase = .waiting(first: false)
            registry.setWaiting(id, true)
            arm(context)
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // The decoder gave up on the request: say why, then close. The error goes no further,
        // so nothing behind the guard answers a second time.
        let status: HTTPResponseStatus = parse == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
        refuse(context, status)
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        guard case .waiting(let first) = phase else { return }
        let wait = first ? limits.headerTimeout : limits.keepAliveTimeout
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: wait) { [self] in
            guard case .waiting = phase, let context = self.context else { return }
            // A head that never completes (slowloris) gets a 408; an idle kept-alive one just closes.
            if first { refuse(context, .requestTimeout) } else { context.close(promise: nil) }
        }
    }

    private func refuse(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus) {
        timer?.cancel()
        guard !responseStarted else {
            context.close(promise: nil)
            return
        }
        responseStarted = true
        let body = "{\"error\":\"\(status.reasonPhrase.lowercased())\",\"status\":\(status.code)}"
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "\(body.utf8.count)"), ("Connection", "close")])
        headers.add(name: "Server", value: "switchboard")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// How long a connection may take to send a request head, and stay idle between requests.
struct GuardLimits: Sendable {
    var headerTimeout: TimeAmount
    var keepAliveTimeout: TimeAmount
}

/// The guarded connections of one server, so that waiting ones can be shed near the limit.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        let channel: any Channel
        var waiting: Bool
    }

    private let entries = Mutex<[UInt64: Entry]>([:])
    private let ids = Atomic<UInt64>(0)

    func nextID() -> UInt64 { ids.add(1, ordering: .relaxed).newValue }
    func add(_ id: UInt64, channel: any Channel) { entries.withLock { $0[id] = Entry(channel: channel, waiting: true) } }
    func remove(_ id: UInt64) { _ = entries.withLock { $0.removeValue(forKey: id) } }
    func setWaiting(_ id: UInt64, _ waiting: Bool) { entries.withLock { $0[id]?.waiting = waiting } }

    /// Closes up to `count` connections that are waiting for a request head, oldest first
    /// (lowest id): they hold a slot without being served, and new clients need it.
    @discardableResult
    func shed(_ count: Int) -> Int {
        let victims = entries.withLock { e in
            e.filter { $0.value.waiting }.sorted { $0.key < $1.key }.prefix(count).map(\.value.channel)
        }
        for channel in victims { channel.close(promise: nil) }
        return victims.count
    }
}

/// Hummingbird's server child channel (HTTP/1.1 with WebSocket upgrades) with a
/// `ConnectionGuard` after its HTTP decoder, and a `StreamTakeover` after that.
///
/// A connection whose first request is a stream the takeover serves needs nothing more of
/// Hummingbird: its task ends there (`handle` returns without running `inner`'s), so an idle
/// subscriber holds no task at all, only its handlers on the event loop.
struct GuardedChannel: ServerChildChannel {
    /// The handler that waits for a connection's first request, to upgrade it or not.
    private typealias UpgradeHandler = NIOTypedHTTPServerUpgradeHandler<HTTP1WebSocketUpgradeChannel.UpgradeResult>

    struct Value: ServerChildChannelValue {
        let inner: HTTP1WebSocketUpgradeChannel.Value
        /// Whether the takeover kept the connection's first request (true) or let it through.
        let takenOver: EventLoopFuture<Bool>
        var channel: any Channel { inner.channel }
    }

    let inner: HTTP1WebSocketUpgradeChannel
    let limits: GuardLimits
    let registry: ConnectionRegistry
    /// For the streams taken over ahead of Hummingbird (see `StreamTakeover`).
    let server: HTTPServerComponent

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let ops = channel.pipeline.syncOperations
            let decoder = try ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let guardHandler = ConnectionGuard(limits: limits, registry: registry)
            try ops.addHandler(guardHandler, position: .after(decoder))
            let takeover = StreamTakeover(server: server, channel: channel, behind: try? ops.handler(type: UpgradeHandler.self))
            try ops.addHandler(takeover, position: .after(guardHandler))
            // The socket keeps its read buffer for its whole life (NIO pools it per channel and
            // never shrinks it): start at 1 KB, not NIO's 2 KB — a request head fits (nginx's
            // default header buffer is 1 KB too), a longer read grows it, and an idle stream
            // holds half as much.
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.reads)
            return Value(inner: value, takenOver: takeover.firstRequestTaken)
        }
    }

    private static let reads = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 65_536)

    func handle(value: Value, logger: Logger) async {
        if (try? await value.takenOver.get()) == true { return }
        await inner.handle(value: value.inner, logger: logger)
    }
}
