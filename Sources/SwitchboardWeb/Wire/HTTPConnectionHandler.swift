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
/// Every response head on the wire is made by `headFields` (CORS, `Date`, `Server`, the length
/// or the close, the status counted) — written through NIO's encoder by `writeHead` for a stream
/// or a handshake, as one buffer with its body by `writeWhole` for a whole answer — and every
/// request is logged once by `logAnswer`.
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

    /// What the registry was last told about this connection waiting for a request (it starts so).
    private var registeredWaiting = true
    /// A read the channel asked for while the machine said not to read.
    private var heldRead = false
    /// What the machine waits for and until when (nil: nothing).
    private var deadline: (kind: TimerKind, at: NIODeadline)?
    /// The scheduled wake-up, which may be earlier than `deadline` (it then re-arms for the rest).
    private var timer: (firesAt: NIODeadline, task: Scheduled<Void>)?
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
        // The registry is shared by every loop (a lock): told only when it changes.
        if machine.isWaiting != registeredWaiting {
            registeredWaiting = machine.isWaiting
            server.registry.setWaiting(id, registeredWaiting)
        }
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
        guard let http = Self.httpRequest(head) else {
            refuse(.badRequest("the request head cannot be read"), context)
            return nil
        }
        return Request(head: http, body: RequestBody(buffer: body ?? ByteBuffer()))
    }

    /// `head` as HTTPTypes' request. A path that starts with `/` (origin form, what every
    /// client but a proxy sends) is the request's path as it is: NIO's conversion parses every
    /// target with Foundation's `URLComponents` to find an absolute form's path, which cost about
    /// 3 µs of a publish's CPU (profiled); that conversion still reads the other forms.
    static func httpRequest(_ head: HTTPRequestHead) -> HTTPRequest? {
        guard head.uri.utf8.first == UInt8(ascii: "/") else { return try? HTTPRequest(head, secure: false, splitCookie: false) }
        guard let method = try? HTTPRequest.Method(head.method) else { return nil }
        return HTTPRequest(method: method, scheme: "http", authority: head.headers["Host"].first, path: head.uri,
                           headerFields: HTTPFields(head.headers, splitCookie: false))
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

    /// Sets the deadline for what the machine waits for: a request (or a handshake's answer) on
    /// `requestTimeout`, the next request on `keepAliveTimeout`, none while answering or
    /// streaming. A deadline keeps running while the request comes in bit by bit.
    ///
    /// The timer is lazy, as nginx's: a new deadline later than the scheduled wake-up leaves
    /// the wake-up as it is (it re-arms for the rest when it comes), and no deadline leaves it to
    /// find nothing to do — so a kept-alive connection's requests schedule and cancel nothing
    /// (three of each per request before: about 7 µs of a publish's CPU, profiled).
    private func syncTimer(_ context: ChannelHandlerContext) {
        let wanted: TimerKind? = machine.timerRuns ? (machine.idleBetweenRequests ? .keepAlive : .request) : nil
        guard wanted != deadline?.kind else { return }
        guard let wanted else {
            deadline = nil
            return
        }
        let at = context.eventLoop.now + (wanted == .request ? settings.requestTimeout : settings.keepAliveTimeout)
        deadline = (wanted, at)
        if let timer, timer.firesAt <= at { return }
        timer?.task.cancel()
        arm(at, context)
    }

    private func arm(_ at: NIODeadline, _ context: ChannelHandlerContext) {
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) { [self] in
            timer = nil
            guard let context = self.context, let deadline else { return }
            if deadline.at > context.eventLoop.now { return arm(deadline.at, context) }
            self.deadline = nil
            perform(machine.timeout(), context)
        }
        timer = (at, task)
    }
}

extension HTTPRequestHead {
    /// A request that asks to become a WebSocket (`Upgrade: websocket`).
    var asksForWebSocket: Bool {
        headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
    }
}
