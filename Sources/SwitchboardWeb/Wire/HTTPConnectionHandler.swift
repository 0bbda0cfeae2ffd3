import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Switchboard

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
        task = Task(executorPreference: TaskPlacement.executor) { [self] in
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

// MARK: - Answers

/// What a connection answers: a request's response, a refusal, a stream (head, chunks, end) or
/// a WebSocket upgrade — every head through `writeHead`, every request logged once.
extension HTTPConnectionHandler {
    // MARK: Answers

    /// Answers a whole request: on the loop when its route answers without waiting (a direct
    /// route), else in a task; the answer is written on the loop.
    func answer(_ request: Request, body: ByteBuffer, _ context: ChannelHandlerContext) {
        let edge = EdgeContext(source: .init(channel: channel, logger: server.runtime.logger))
        let responder = DynamicResponder(server: server)
        if let outcome = responder.answerDirect(to: request, body: body, context: edge) {
            switch outcome {
            case .now(let answer): return write(answer, context)
            case .later(let make): return later(make)
            }
        }
        later { await DirectAnswer(collecting: await responder.route(request, edge)) }
    }

    /// Makes the answer in a task (the route waits), then writes it on the loop.
    private func later(_ make: @escaping @Sendable () async -> DirectAnswer) {
        let loop = channel.eventLoop
        task = Task(executorPreference: TaskPlacement.executor) { [self] in
            let answer = await make()
            loop.execute { [self] in
                task = nil
                guard let context else { return }
                write(answer, context)
            }
        }
    }

    /// Writes the answer to the request being answered, with its length; then the machine
    /// says what comes next (the requests that waited behind it, or the close).
    func write(_ answer: DirectAnswer, _ context: ChannelHandlerContext) {
        guard case .answering = machine.state else { return }
        let isHead = head?.method == .HEAD
        let written = writeWhole(answer, withBody: !isHead, close: machine.closesAfterAnswer, context)
        logAnswer(bytes: isHead ? 0 : answer.body.readableBytes)
        let next = machine.answered()
        if case .close = next {
            // Once what was written has gone out.
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
            return
        }
        perform(next, context)
    }

    /// A refusal the machine decided on: answered as JSON, then the connection closes.
    func refuse(_ refusal: HTTPConnectionMachine.Refusal, _ context: ChannelHandlerContext) {
        let answer: DirectAnswer
        switch refusal {
        case .badRequest(let why): answer = .error(.badRequest, why)
        case .headersTooLarge: answer = .error(.requestHeaderFieldsTooLarge, "the request head is too large")
        case .timedOut: answer = .error(.requestTimeout, "the request did not arrive in time")
        case .tooLarge(let limit): answer = .error(.contentTooLarge, "request body exceeds the limit of \(limit) bytes", ["limit": .int(limit)])
        case .notUpgradable:
            answer = .error(.badRequest, "\(logged?.path ?? "this path") does not take a WebSocket upgrade", ["reason": "notUpgradable"])
        case .versionNotSupported: answer = .error(.httpVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served here")
        case .expectationFailed: answer = .error(.expectationFailed, "only Expect: 100-continue is understood")
        }
        writeFinal(answer, context)
    }

    /// Writes `answer` with `Connection: close` and closes once it is out.
    private func writeFinal(_ answer: DirectAnswer, _ context: ChannelHandlerContext) {
        guard !finished else { return context.close(promise: nil) }
        finished = true
        let channel = context.channel
        writeWhole(answer, withBody: true, close: true, context).whenComplete { _ in channel.close(promise: nil) }
        logAnswer(bytes: answer.body.readableBytes)
    }

    // MARK: A stream's or handshake's side

    /// Answers a stream's request or a handshake with `response` (a refusal), and closes.
    func refuse(_ response: Response) async {
        let answer = await DirectAnswer(collecting: response)
        channel.eventLoop.execute { [self] in
            guard let context else { return }
            _ = machine.finished()
            writeFinal(answer, context)
        }
    }

    /// Sends the response head of a stream; `gone` runs once when the client hangs up (at
    /// once if it has already), `writable` whenever a full connection can take more again.
    func open(_ status: HTTPResponse.Status, _ headers: HTTPFields, gone: @escaping () -> Void, writable: @escaping () -> Void) {
        guard let context, !finished else { return gone() }
        self.writable = writable
        if isGone { return gone() }
        self.gone = gone
        machine.streamStarted()
        // The connection ends with the stream (it carries no other request): say so, so that a
        // client expects the close after the last chunk instead of keeping the connection.
        writeHead(status, headers, contentLength: nil, close: true, context)
        context.flush()
        dropRequests(context)
    }

    /// Writes a body chunk through the HTTP encoder; the future completes once the socket took it.
    func write(_ chunk: ByteBuffer) -> EventLoopFuture<Void> {
        guard let context, !finished else { return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        bodyBytes += chunk.readableBytes
        return context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk))))
    }

    /// Where bytes go straight to the socket, past the HTTP encoder (which is first in the
    /// pipeline): for ready-made HTTP chunks and whole answers.
    var front: ChannelHandlerContext? {
        try? channel.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
    }

    /// Ends the stream's response (the last chunk), logs it, and closes the connection.
    /// `rawBytes` are body bytes the stream wrote at the `front`.
    func close(rawBytes: Int = 0) {
        gone = nil
        writable = nil
        guard let context, !finished else { return }
        finished = true
        _ = machine.finished()
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        logAnswer(bytes: bodyBytes + rawBytes)
    }

    /// Answers a WebSocket handshake with 101 and `headers`, and hands the connection to NIO's
    /// frame decoder (frames up to `maxWebSocketFrame`) followed by `session`: the HTTP
    /// handlers leave, and the bytes the client sent after its handshake reach the new ones.
    /// False when the client is gone. Runs on the connection's event loop.
    func upgrade(_ headers: HTTPFields, to session: any ChannelHandler) -> Bool {
        guard let context, !finished, !isGone, machine.state == .handshaking else { return false }
        finished = true
        gone = nil
        writable = nil
        writeHead(.switchingProtocols, headers, contentLength: nil, close: false, context)
        context.flush()
        logAnswer(bytes: 0)
        machine.upgraded()
        server.registry.setWaiting(id, false)
        let ops = context.pipeline.syncOperations
        do {
            let decoder = try ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let encoder = try ops.handler(type: HTTPResponseEncoder.self)
            ops.removeHandler(context: context, promise: nil)
            let frames = ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: settings.maxWebSocketFrame))
            try ops.addHandlers([frames, session], position: .after(decoder))
            ops.removeHandler(encoder, promise: nil)
            // Last: what the decoder holds past the handshake goes on to the frame decoder.
            ops.removeHandler(decoder, promise: nil)
            // Reading was held back while the handshake was decided: the session reads now.
            channel.read()
            return true
        } catch {
            channel.close(promise: nil)
            return false
        }
    }

    /// A stream owns the connection: the request decoder gives way to `DropInbound`, so what the
    /// client sends is dropped without being parsed, and an idle stream holds no decoder buffer.
    private func dropRequests(_ context: ChannelHandlerContext) {
        let ops = context.pipeline.syncOperations
        guard let decoder = try? ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) else { return }
        // First the sink, then the decoder: what the decoder still holds lands in the sink.
        try? ops.addHandler(DropInbound(), position: .after(decoder))
        ops.removeHandler(decoder, promise: nil)
    }

    func hangUp() {
        guard !isGone else { return }
        isGone = true
        let gone = self.gone
        self.gone = nil
        gone?()
    }

    // MARK: The one writer of heads

    /// Writes a response head: `fields` with the CORS headers for the request's origin, `Date`,
    /// `Server`, `Content-Length` (when known) and `Connection: close` (when `close`); counts
    /// the status for `inspect` and `/metrics`.
    func writeHead(_ status: HTTPResponse.Status, _ fields: HTTPFields, contentLength: Int?, close: Bool, _ context: ChannelHandlerContext) {
        let fields = headFields(status, fields, contentLength: contentLength, close: close)
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status.code, reasonPhrase: status.reasonPhrase),
                                    headers: HTTPHeaders(fields))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    /// The fields every head carries (see `writeHead`), the status counted and logged.
    private func headFields(_ status: HTTPResponse.Status, _ fields: HTTPFields, contentLength: Int?, close: Bool) -> HTTPFields {
        var fields = fields
        server.corsPolicy?.addOriginHeaders(for: origin, to: &fields)
        fields[.date] = HTTPDate.now
        fields[.server] = "switchboard"
        if let contentLength { fields[.contentLength] = String(contentLength) }
        if close { fields[.connection] = "close" }
        server.stats.count(status)
        logged?.status = status.code
        return fields
    }

    /// Writes a whole answer — head (as `writeHead` makes it) and body — as one buffer at the
    /// `front`, and flushes: one allocation and one write, where NIO's encoder took the head as
    /// `HTTPHeaders` (converted from the fields), then the body and the end as parts, each with
    /// its own pass through the pipeline (about 5 µs of a publish's CPU, profiled). HTTPTypes
    /// has checked every name and value (no CR or LF gets here). The encoder sees none of it:
    /// it holds no state for a response it did not write.
    func writeWhole(_ answer: DirectAnswer, withBody: Bool, close: Bool, _ context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        let fields = headFields(answer.status, answer.headers, contentLength: answer.body.readableBytes, close: close)
        var out = context.channel.allocator.buffer(capacity: 64 + fields.count * 40 + (withBody ? answer.body.readableBytes : 0))
        out.writeStaticString("HTTP/1.1 ")
        out.writeString(String(answer.status.code))
        out.writeStaticString(" ")
        out.writeString(answer.status.reasonPhrase)
        out.writeStaticString("\r\n")
        for field in fields {
            out.writeString(field.name.rawName)
            out.writeStaticString(": ")
            out.writeString(field.value)
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("\r\n")
        if withBody {
            var body = answer.body
            out.writeBuffer(&body)
        }
        guard let front = front else { return context.channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        return front.writeAndFlush(NIOAny(out))
    }

    /// An interim `1xx` head (`100 Continue`): no body, not logged, the request goes on.
    func writeInterim(_ status: HTTPResponseStatus, _ context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status))), promise: nil)
    }

    /// Logs the request once (with the access log on), with `bytes` of body.
    func logAnswer(bytes: Int) {
        if let l = logged, server.accessLog {
            AccessLog.log(method: l.method, path: l.path, status: l.status, since: l.started, bytes: bytes, logger: server.runtime.logger)
        }
        logged = nil
    }
}

extension DirectAnswer {
    /// `response` with its body read (what an ordinary route answers is built in memory).
    init(collecting response: Response) async {
        let body = CollectedBody()
        try? await response.body.write(body)
        self.init(status: response.status, headers: response.headers, body: body.buffer)
    }
}

/// A response body read into one buffer.
final class CollectedBody: ResponseBodyWriter, @unchecked Sendable {
    var buffer = ByteBuffer()

    func write(_ buffer: ByteBuffer) async throws {
        var b = buffer
        self.buffer.writeBuffer(&b)
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// Takes the request decoder's place on a connection a stream owns: the bytes the client
/// sends are dropped; events — the client's half-close, the connection's end — go on.
final class DropInbound: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
