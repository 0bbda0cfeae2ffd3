import Foundation
import Logging
import NIOCore
import NIOPosix
import Switchboard
import Synchronization

/// The console's server: a Unix domain socket inside `switchboard run`, outside the system
/// map (it survives `stop` and can `start` again).
///
/// Each peer's uid is checked with SO_PEERCRED (the server's own user and root are allowed,
/// plus `admin.allowUids`): that check is the gate. The file modes only decide who can reach
/// the socket: 0600 in a 0700 directory by default; with `allowUids` the socket is 0666 in a
/// 0711 directory (or `mode`/`group`, as HAProxy's stats socket), so listed users get as far
/// as the uid check.
///
/// - Important: The server only ever removes a socket that refuses connections (a stale one
///   from an earlier run), never a file or directory of another kind, and never changes the
///   mode of a directory it did not create. A world-writable directory without the sticky
///   bit is refused (anyone could replace the socket). Several consoles can attach at once;
///   each is detached after `idleTimeout` without input.
public final class AdminServer: Sendable {
    /// The socket path or its directory is not safe to use.
    public struct UnsafePath: Error, CustomStringConvertible {
        public let description: String
    }

    /// Another server answers on the socket.
    public struct AlreadyRunning: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "another switchboard is already listening on \(path) (attach with: \(AdminServer.attachCommand(path)))" }
    }

    /// The command that attaches a console to `path`, as the user calls this program:
    /// `SWITCHBOARD_COMMAND` (dev/switchboard sets it), else the executable as invoked when it
    /// is switchboard, else `switchboard`.
    public static func attachCommand(_ path: String) -> String {
        let invoked = CommandLine.arguments.first.flatMap { $0 == "switchboard" || $0.hasSuffix("/switchboard") ? $0 : nil }
        let command = ProcessInfo.processInfo.environment["SWITCHBOARD_COMMAND"] ?? invoked ?? "switchboard"
        return "\(command) console --socket \(path)"
    }

    let config: AdminConfig
    let host: AdminHost
    private struct State {
        var listener: (any Channel)?
        /// The inode of the socket this server bound (only that file is removed on stop).
        var boundInode: UInt?
        /// Every console connected now: its connection, and the task serving it.
        var open: [ObjectIdentifier: (channel: any Channel, task: Task<Void, Never>?)] = [:]
    }

    private let state = Mutex(State())
    private let consoles = Atomic<Int>(0)

    /// A server for `host` configured by `config`.
    public init(config: AdminConfig, host: AdminHost) {
        self.config = config
        self.host = host
    }

    /// The socket path.
    public var socketPath: String { config.socketPath }

    /// Consoles attached now.
    public var attached: Int { consoles.load(ordering: .relaxed) }

    /// Binds the socket and starts accepting consoles.
    public func start() async throws {
        let path = config.socketPath
        try SocketPlacement.prepareDirectory(for: path, reachableByOthers: config.reachableByOthers)
        switch SocketPlacement.kind(of: path) {
        case nil: break
        case .socket?:
            if Self.isLive(path) { throw AlreadyRunning(path: path) }
            guard unlink(path) == 0 else { throw UnsafePath(description: "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))") }
            host.logger.info("replaced a stale console socket at \(path)")
        case .other(let what)?:
            throw UnsafePath(description: "admin.socket: \(path) is \(what), not a socket; it is left as it is (choose another path)")
        }
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { [self] child in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.addHandler(AdminConnectionHandler(server: self))
                    }
                }
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false).get()
        } catch {
            // Two instances of one system file starting together race for the same socket.
            throw UnsafePath(description: "admin.socket: cannot listen on \(path) (\(error)); another process may be using it: give each instance its own admin.socket")
        }
        do {
            try SocketPlacement.applyAccess(path, mode: config.socketMode, group: config.group)
        } catch {
            try? await channel.close()
            unlink(path)
            throw error
        }
        let inode = SocketPlacement.inode(of: path)
        state.withLock { s in
            s.boundInode = inode
            s.listener = channel
        }
        host.logger.info("console socket at \(path) (attach with: \(Self.attachCommand(path)))")
    }

    /// Stops listening, detaches every console and removes the socket file.
    public func stop() async {
        guard let (channel, inode) = state.withLock({ s -> ((any Channel), UInt?)? in
            guard let l = s.listener else { return nil }
            defer { s.listener = nil; s.boundInode = nil }
            return (l, s.boundInode)
        }) else { return }
        // Close the listener, then every console, then wait for their sessions to end.
        try? await channel.close()
        let open = state.withLock { Array($0.open.values) }
        for console in open { try? await console.channel.close() }
        for task in open.compactMap(\.task) {
            if await withDeadline(.seconds(5), { await task.value }) == nil {
                task.cancel()
                host.logger.warning("a console session did not end in time")
            }
        }
        // Only the socket this server made: another server may have taken the path since.
        if let inode, SocketPlacement.inode(of: config.socketPath) == inode {
            unlink(config.socketPath)
        }
    }

    /// A connection arrived: serve it on a task of its own (called on its event loop).
    func accepted(_ channel: any Channel, inbound: AsyncStream<ByteBuffer>) {
        let key = ObjectIdentifier(channel)
        state.withLock { $0.open[key] = (channel, nil) }
        let task = Task {
            await self.serve(channel, inbound: inbound)
            try? await channel.close()
            _ = self.state.withLock { $0.open.removeValue(forKey: key) }
        }
        // Unless it has already ended.
        state.withLock { s in if s.open[key] != nil { s.open[key]?.task = task } }
    }

    /// Whether something accepts connections on `path`.
    static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let size = socklen_t(MemoryLayout<sockaddr_un>.size)
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } } == 0
    }

    // MARK: One console

    /// Linux's `struct ucred` (Swift's Glibc module does not export it).
    struct PeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// The connecting process's uid, from SO_PEERCRED.
    private func peerUID(_ channel: any Channel) async -> UInt32? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let soPeerCred: Int32 = 17  // SO_PEERCRED on Linux
        let cred: PeerCredentials? = try? await provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(soPeerCred)).get()
        return cred?.uid
    }

    private func serve(_ channel: any Channel, inbound: AsyncStream<ByteBuffer>) async {
        let uid = await peerUID(channel)
        let allowed = uid.map { $0 == getuid() || $0 == 0 || config.allowedUIDs.contains($0) } ?? false
        let out = FrameWriter(channel)
        guard allowed else {
            host.logger.warning("console refused: uid \(uid.map(String.init) ?? "unknown") is not allowed")
            await out.send(.reply(ok: false, command: "", text: "permission denied: uid \(uid.map(String.init) ?? "?") may not attach", reason: ConsoleError.Reason.forbidden.rawValue))
            return
        }
        consoles.add(1, ordering: .relaxed)
        defer { consoles.subtract(1, ordering: .relaxed) }
        let peer = uid.map(String.init) ?? "?"
        host.logger.info("console attached (uid \(peer))")
        await out.send(Frame(.hello, [
            "system": .string(await host.map.spec.name), "instance": .string(await host.map.spec.instance), "state": .string(await host.map.systemState.rawValue),
            "protocol": 1, "commands": .array(CommandCatalog(topics: await host.map.consoleTopics).names.map(JSONValue.string)),
        ]))
        let connection = ConsoleConnection(session: ConsoleSession(host: host, peer: peer), out: out, idleTimeout: config.idleTimeout)
        await connection.run(inbound)
        host.logger.info("console detached (uid \(peer))")
    }
}

/// Feeds one connection's bytes to its session (a plain handler: the session owns the
/// channel's lifetime, not an async wrapper that must be consumed).
final class AdminConnectionHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let server: AdminServer
    private let feed = Mutex<AsyncStream<ByteBuffer>.Continuation?>(nil)

    init(server: AdminServer) {
        self.server = server
    }

    func channelActive(context: ChannelHandlerContext) {
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        feed.withLock { $0 = continuation }
        server.accepted(context.channel, inbound: stream)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        _ = feed.withLock { $0 }?.yield(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        feed.withLock { $0 }?.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Writes frames to one console, one at a time.
final class FrameWriter: Sendable {
    private let channel: any Channel

    init(_ channel: any Channel) {
        self.channel = channel
    }

    func send(_ frame: Frame) async {
        try? await channel.writeAndFlush(ByteBuffer(bytes: frame.encoded)).get()
    }

    /// Ends the console's connection.
    func finish() {
        channel.close(promise: nil)
    }
}
