import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// A route that serves a request on its connection itself: a stream (SSE) that holds the
/// connection until it ends, or a WebSocket handshake. No request task, `Request` or response
/// writer lives on for the stream: a few hundred bytes of state on the event loop.
protocol ConnectionStreaming: Sendable {
    /// Serves `request` (its head; a stream's GET and a handshake have no body) on `connection`,
    /// answering with `connection.refuse`, `open`, `write` … `close`, or `upgrade`. Returns once
    /// what waits is done (a stream is live); cancelled when the connection closes first.
    func serve(_ request: Request, on connection: HTTPConnectionHandler) async
}

/// The one handler of an HTTP/1.1 connection, after NIO's request decoder and response
/// encoder: it feeds `HTTPConnectionMachine` with what happens and does what the machine
/// decides — hands a request to its route, writes the answer, holds reads back while an
/// answer is made, times requests out, closes.
///
/// Every response head on the wire is written by `writeHead` (with CORS, `Date`, `Server`, the
/// length or the close, the status counted) and every request is logged once by `logAnswer`.
/// Tasks started for the connection (a route that waits, a stream getting ready) are cancelled
/// when it closes.
///
/// - Important: Everything runs on the connection's event loop, but for `refuse`.
final class HTTPConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = Never
    typealias OutboundOut = HTTPServerResponsePart

    let server: HTTPServerComponent
    let settings: WireSettings
    /// The connection.
    let channel: any Channel
    var machine: HTTPConnectionMachine
    var context: ChannelHandlerContext?
    let id: UInt64

    // The request being read or answered.
    var head: HTTPRequestHead?
    var body: ByteBuffer?
    /// The request line, start and status, for the access log.
    var logged: (method: String, path: String, status: Int, started: ContinuousClock.Instant)?
    var bodyBytes = 0
    /// The request's `Origin`, for the CORS headers of the answer.
    var origin: String?

    /// A read the channel asked for while the machine said not to read.
    private var heldRead = false
    private var timer: (kind: TimerKind, task: Scheduled<Void>)?
    /// The task making an answer, or getting a stream or handshake ready.
    var task: Task<Void, Never>?

    // A stream's side (see `open`).
    var gone: (() -> Void)?
    var writable: (() -> Void)?
    var isGone = false
    /// The stream's or handshake's response has ended: nothing more is written.
    var finished = false

    enum TimerKind { case request, keepAlive }

    init(server: HTTPServerComponent, settings: WireSettings, channel: any Channel) {
        self.server = server
        self.settings = settings
        self.channel = channel
        machine = HTTPConnectionMachine(bodyLimit: settings.bodyLimit)
        id = server.registry.nextID()
    }

    // MARK: Life

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        server.registry.add(id, channel: context.channel)
        syncTimer(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.task.cancel()
        timer = nil
        server.registry.remove(id)
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        task = nil
        hangUp()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            if machine.state == .streaming { hangUp() }
            perform(machine.quiesce(), context)
        } else if case .inputClosed? = event as? ChannelEvent {
            if machine.state == .streaming { hangUp() }
            perform(machine.inputClosed(), context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writable?() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        feed(unwrapInboundIn(data), context)
    }

    private func feed(_ part: HTTPServerRequestPart, _ context: ChannelHandlerContext) {
        switch part {
        case .head(let h):
            let route = routeKind(h)
            let action = machine.head(h, route: route)
            if case .begin = action { begin(h) } else if case .sendContinue = action { begin(h) }
            perform(action, context)
        case .body(let chunk):
            perform(machine.body(chunk), context)
        case .end:
            perform(machine.end(), context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // The decoder gave up on the request: the machine says what to answer.
        perform(machine.parseError(headersTooLarge: parse == .headerOverflow), context)
    }

    /// What the route of `head` is, for the machine.
    private func routeKind(_ head: HTTPRequestHead) -> HTTPConnectionMachine.Route {
        let path = Self.path(head.uri)
        if head.asksForWebSocket {
            guard let route = server.routes.lookup(.get, path).route else { return .notUpgradable }
            // A placeholder (its endpoint restarting) answers its 503 as to any request.
            return route.upgrade != nil && head.method == .GET ? .handshake : (route.isPlaceholder ? .respond : .notUpgradable)
        }
        if head.method == .GET, server.routes.stream(path) != nil { return .stream }
        return .respond
    }

    static func path(_ uri: String) -> String { String(uri.prefix { $0 != "?" }) }

    private func begin(_ h: HTTPRequestHead) {
        head = h
        origin = h.headers["origin"].first
        logged = (h.method.rawValue, Self.path(h.uri), 0, .now)
        bodyBytes = 0
        body = nil
    }

    // MARK: Actions

    func perform(_ action: HTTPConnectionMachine.Action, _ context: ChannelHandlerContext) {
        switch action {
        case .none, .begin:
            break
        case .sendContinue:
            writeInterim(.continue, context)
        case .body(var chunk):
            if body == nil { body = context.channel.allocator.buffer(capacity: min(chunk.readableBytes, 16_384)) }
            body?.writeBuffer(&chunk)
        case .dispatch(let route):
            dispatch(route, context)
        case .refuse(let refusal):
            refuse(refusal, context)
        case .replay(let parts):
            for part in parts { feed(part, context) }
            if machine.mayRead { readHeld(context) }
        case .readNext:
            readHeld(context)
        case .close:
            context.close(promise: nil)
        }
        syncTimer(context)
        server.registry.setWaiting(id, machine.isWaiting)
    }

    /// Hands a whole request to its route.
    private func dispatch(_ route: HTTPConnectionMachine.Route, _ context: ChannelHandlerContext) {
        guard let head, let request = request(head, context) else { return }
        switch route {
        case .respond:
            answer(request, body: body ?? ByteBuffer(), context)
        case .stream:
            guard let stream = server.routes.stream(Self.path(head.uri)) else { return refuse(.badRequest("no stream here"), context) }
            serve(request, by: stream)
        case .handshake:
            guard let upgrade = server.routes.lookup(.get, Self.path(head.uri)).route?.upgrade else { return refuse(.notUpgradable, context) }
            serve(request, by: upgrade)
        case .notUpgradable:
            refuse(.notUpgradable, context)
        }
        body = nil
    }

    /// Hummingbird's request of `head`; a head it cannot read is a 400.
    private func request(_ head: HTTPRequestHead, _ context: ChannelHandlerContext) -> Request? {
        guard let http = try? HTTPRequest(head, secure: false, splitCookie: false) else {
            refuse(.badRequest("the request head cannot be read"), context)
            return nil
        }
        return Request(head: http, body: RequestBody(buffer: body ?? ByteBuffer()))
    }

    /// Lets the route serve the connection; once it has (the stream is live, the socket
    /// upgraded), nothing of the request stays with the connection: not its head, nor the task.
    private func serve(_ request: Request, by route: any ConnectionStreaming) {
        head = nil
        let loop = channel.eventLoop
        task = Task { [self] in
            await route.serve(request, on: self)
            loop.execute { self.task = nil }
        }
    }

    /// Issues the read the channel asked for while reading was held back.
    private func readHeld(_ context: ChannelHandlerContext) {
        guard heldRead, machine.mayRead else { return }
        heldRead = false
        context.read()
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        // No reading while an answer is made: what a client pipelines stays in its socket.
        guard machine.mayRead else {
            heldRead = true
            return
        }
        context.read()
    }

    // MARK: The request timer

    /// Arms, re-arms or cancels the timer for what the machine waits for: a request (or a
    /// handshake's answer) on `requestTimeout`, the next request on `keepAliveTimeout`. A
    /// timer keeps running while the request comes in bit by bit.
    private func syncTimer(_ context: ChannelHandlerContext) {
        let wanted: TimerKind? = machine.timerRuns ? (machine.idleBetweenRequests ? .keepAlive : .request) : nil
        guard wanted != timer?.kind else { return }
        timer?.task.cancel()
        timer = nil
        guard let wanted else { return }
        let wait = wanted == .request ? settings.requestTimeout : settings.keepAliveTimeout
        let task = context.eventLoop.assumeIsolated().scheduleTask(in: wait) { [self] in
            timer = nil
            guard let context = self.context else { return }
            perform(machine.timeout(), context)
        }
        timer = (wanted, task)
    }
}

extension HTTPRequestHead {
    /// A request that asks to become a WebSocket (`Upgrade: websocket`).
    var asksForWebSocket: Bool {
        headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
    }
}
