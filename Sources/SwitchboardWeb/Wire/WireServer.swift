import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import Switchboard
import Synchronization

/// The listener of one `http-server`: binds, gives each connection its handlers (NIO's
/// response encoder and request decoder, then an `HTTPConnectionHandler`), holds accepting back
/// at `maxConnections`, and shuts down gracefully (idle connections close at once, busy ones
/// after their answer, streams end) with a deadline after which the rest are cut.
final class WireServer: Sendable {
    let channel: any Channel
    private let quiesce: ServerQuiescingHelper
    private let registry: ConnectionRegistry

    /// Binds `host:port` and starts accepting.
    static func start(host: String, port: Int, settings: WireSettings, server: HTTPServerComponent) async throws -> WireServer {
        let group = MultiThreadedEventLoopGroup.singleton
        let quiesce = ServerQuiescingHelper(group: group)
        let limit = AcceptLimit(limit: server.maxConnections, counter: server.connections, registry: server.registry)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    try ops.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                    try ops.addHandler(AcceptLimitHandler(limit))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // The socket keeps its read buffer for its whole life (NIO pools it per channel and
            // never shrinks it): start at 1 KB, not NIO's 2 KB — a request head fits (nginx's
            // default header buffer is 1 KB too), a longer read grows it, and an idle stream
            // holds half as much.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 65_536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    limit.opened()
                    channel.closeFuture.whenComplete { _ in limit.closed() }
                    let ops = channel.pipeline.syncOperations
                    try ops.addHandler(HTTPResponseEncoder())
                    try ops.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
                    try ops.addHandler(HTTPConnectionHandler(server: server, settings: settings, channel: channel))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        return WireServer(channel: channel, quiesce: quiesce, registry: server.registry)
    }

    private init(channel: any Channel, quiesce: ServerQuiescingHelper, registry: ConnectionRegistry) {
        self.channel = channel
        self.quiesce = quiesce
        self.registry = registry
    }

    /// The bound port.
    var port: Int { channel.localAddress?.port ?? 0 }

    /// Stops accepting, asks every connection to finish (idle ones close, busy ones close after
    /// their answer, streams end), and waits for them until `grace` has passed; then closes
    /// what is left. Returns whether anything had to be cut.
    func stop(grace: Duration) async -> Bool {
        let done = channel.eventLoop.makePromise(of: Void.self)
        quiesce.initiateShutdown(promise: done)
        if await withDeadline(grace, { try? await done.futureResult.get() }) != nil { return false }
        registry.closeAll()
        try? await done.futureResult.get()
        return true
    }
}

/// Counts open connections and stops accepting new ones at the limit (they wait in the listen
/// backlog until a connection closes); near the limit, connections waiting for a request are
/// shed, so new clients are still served.
final class AcceptLimit: Sendable {
    /// Figures for `inspect` and `/metrics`.
    final class Counter: Sendable {
        let open = Atomic<Int>(0)
        let accepted = Atomic<Int>(0)
        let shed = Atomic<Int>(0)
    }

    let limit: Int
    let counter: Counter
    let registry: ConnectionRegistry
    /// Reads the server channel held back at the limit, to issue when a slot frees.
    let resume = Mutex<(@Sendable () -> Void)?>(nil)

    init(limit: Int, counter: Counter, registry: ConnectionRegistry) {
        self.limit = limit
        self.counter = counter
        self.registry = registry
    }

    func opened() {
        let open = counter.open.add(1, ordering: .relaxed).newValue
        counter.accepted.add(1, ordering: .relaxed)
        // Near the limit, connections that hold a slot without a request go first.
        if open >= limit - max(1, limit / 10) {
            counter.shed.add(registry.shed(max(1, limit / 20)), ordering: .relaxed)
        }
    }

    func closed() {
        counter.open.subtract(1, ordering: .relaxed)
        resume.withLock { r in defer { r = nil }; return r }?()
    }

    var isAccepting: Bool { counter.open.load(ordering: .relaxed) < limit }
}

/// On the server channel: holds back the read that accepts connections while `AcceptLimit`
/// is at its limit.
private final class AcceptLimitHandler: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = Never
    let limit: AcceptLimit

    init(_ limit: AcceptLimit) { self.limit = limit }

    func read(context: ChannelHandlerContext) {
        guard !limit.isAccepting else { return context.read() }
        let loop = context.eventLoop
        let bound = NIOLoopBound(context, eventLoop: loop)
        limit.resume.withLock { $0 = { loop.execute { bound.value.read() } } }
        // A connection may have closed in between: do not wait for the next one.
        if limit.isAccepting, let again = limit.resume.withLock({ r in defer { r = nil }; return r }) { again() }
    }
}

/// The connections of one server, so that waiting ones can be shed near the limit and the
/// rest closed at the end of a shutdown.
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

    /// Closes up to `count` connections that are waiting for a request (or for a handshake's
    /// answer), oldest first: they hold a slot without being served, and new clients need it.
    @discardableResult
    func shed(_ count: Int) -> Int {
        let victims = entries.withLock { e in
            e.filter { $0.value.waiting }.sorted { $0.key < $1.key }.prefix(count).map(\.value.channel)
        }
        for channel in victims { channel.close(promise: nil) }
        return victims.count
    }

    /// Closes every connection (the end of a shutdown's grace period).
    func closeAll() {
        for channel in entries.withLock({ $0.values.map(\.channel) }) { channel.close(promise: nil) }
    }
}
