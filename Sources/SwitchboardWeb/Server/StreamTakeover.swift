import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// A GET route that serves a plain request on its connection itself, ahead of Hummingbird:
/// a long-lived stream (SSE) then holds no request task, no `Request` and no response writer
/// for its whole life — a few hundred bytes of state on the event loop instead.
protocol ConnectionStreaming: Sendable {
    /// Serves `request` (its head; a streamed GET has no body) on `connection`. Called on the
    /// connection's event loop; the route answers with `connection.refuse` or `open`, `write`
    /// … `close`.
    func serve(_ request: Request, on connection: StreamTakeover)
}

/// Sits after the `ConnectionGuard` of every connection and takes a plain GET on a streaming
/// route (see `ConnectionStreaming`) away from Hummingbird, whose per-connection task then
/// never sees it: it keeps waiting for a first request, a shallow wait that holds little.
/// Everything else — other routes, HEAD, a GET with a body or an upgrade, a request pipelined
/// behind one Hummingbird is answering, a placeholder answering 503 — goes on untouched.
/// A taken-over connection is the stream's until it closes: the stream's end closes it.
///
/// When the connection's first request is taken over, Hummingbird's side of the connection is
/// let go (`firstRequestTaken`; see `GuardedChannel`): its task ends, the handlers waiting for a
/// first request behind this one are removed, and the request decoder gives way to a handler
/// that drops whatever the client sends, so that an idle stream holds its socket, a few
/// handlers and its subscriber, nothing else.
///
/// - Important: Everything but `refuse` runs on the connection's event loop.
final class StreamTakeover: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case passing
        /// Boxed: a held request is brief, the handler lives as long as its connection.
        indirect case held(HTTPRequestHead, Request, any ConnectionStreaming)
        /// The body of a request to a direct route is being read (into `body`).
        indirect case reading(HTTPRequestHead, HTTPRequest)
        /// A direct request is being answered; what the client sent after it waits here.
        case answering([HTTPServerRequestPart])
        case taken
    }

    private let server: HTTPServerComponent
    /// The connection.
    let channel: any Channel
    /// Waits for the first request behind this handler (removed, and let go of, when that one
    /// is taken over: it holds the request decoder and the upgraders).
    private var behind: (any RemovableChannelHandler)?
    private let decided: EventLoopPromise<Bool>
    private var isDecided = false
    private var state = State.passing
    /// Requests passed on whose response has not ended yet.
    private var outstanding = 0
    private var context: ChannelHandlerContext?
    private var gone: (() -> Void)?
    private var writable: (() -> Void)?
    private var isGone = false
    /// The taken-over response has ended: nothing more is written.
    private var finished = false
    /// The request line and start, for the access log.
    private var logged: (method: String, path: String, status: Int, started: ContinuousClock.Instant)?
    private var bodyBytes = 0
    /// The request's `Origin`, for the CORS headers of the answer.
    private var origin: String?
    /// The body of the direct request being read.
    private var body = ByteBuffer()
    /// The server is shutting down: a connection that only carried direct requests closes
    /// when it is idle (Hummingbird, which closes its own, never saw them).
    private var quiescing = false

    /// `behind` is the handler after this one that waits for the connection's first request.
    init(server: HTTPServerComponent, channel: any Channel, behind: (any RemovableChannelHandler)?) {
        self.server = server
        self.channel = channel
        self.behind = behind
        decided = channel.eventLoop.makePromise(of: Bool.self)
    }

    /// Whether the connection's first request was taken over (true), or passed on (false): once
    /// true, nothing of Hummingbird serves this connection.
    var firstRequestTaken: EventLoopFuture<Bool> { decided.futureResult }

    private func decide(_ taken: Bool) {
        guard !isDecided else { return }
        isDecided = true
        decided.succeed(taken)
    }

    // MARK: Inbound

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        decide(false)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.taken, _):
            return  // a client talking on its stream: nothing to answer
        case (.passing, .head(let head)):
            if Self.asksForWebSocket(head) {
                // A connection's first request may become a WebSocket served on the loop.
                if !isDecided, head.method == .GET, let route = server.routes.webSocketStream(String(head.uri.prefix { $0 != "?" })),
                   let request = try? HTTPRequest(head, secure: false, splitCookie: false) {
                    state = .held(head, Request(head: request, body: RequestBody(buffer: ByteBuffer())), route)
                    return
                }
                // The bytes after the upgrade are frames: this handler is done.
                decide(false)
                context.fireChannelRead(data)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            if outstanding == 0, head.method == .GET, !head.headers.contains(name: "transfer-encoding"),
               head.headers["content-length"].allSatisfy({ $0 == "0" }),
               let route = server.routes.stream(String(head.uri.prefix { $0 != "?" })),
               let request = try? HTTPRequest(head, secure: false, splitCookie: false) {
                state = .held(head, Request(head: request, body: RequestBody(buffer: ByteBuffer())), route)
                return
            }
            // Not a body announced over the limit, nor one that expects `100 Continue`:
            // Hummingbird answers those at once.
            if outstanding == 0, head.method == .POST, !head.headers.contains(name: "expect"),
               head.headers["content-length"].allSatisfy({ (Int($0) ?? .max) <= server.requestBodyLimit }),
               server.routes.isDirect(.post, String(head.uri.prefix { $0 != "?" })),
               let request = try? HTTPRequest(head, secure: false, splitCookie: false) {
                // Hummingbird serves whatever else this connection asks for.
                decide(false)
                state = .reading(head, request)
                body.clear()
                return
            }
            decide(false)
            outstanding += 1
            context.fireChannelRead(data)
        case (.reading, .body(let chunk)):
            guard body.readableBytes + chunk.readableBytes <= server.requestBodyLimit else {
                // Answered before the body is read: the connection ends with the answer.
                state = .answering([])
                body.clear()
                let limit = server.requestBodyLimit
                return respond(keepAlive: false, context) { .error(.contentTooLarge, "request body exceeds the limit of \(limit) bytes") }
            }
            body.writeImmutableBuffer(chunk)
        case (.reading(let head, let request), .end):
            state = .answering([])
            answerDirect(head, request, context)
        case (.answering(var waiting), _):
            // Pipelined behind the request being answered: it comes after the answer.
            waiting.append(part)
            state = .answering(waiting)
        case (.reading, .head):
            context.close(promise: nil)  // the decoder never does this
        case (.held(let head, _, _), .body):
            // Not a plain GET after all: Hummingbird answers it.
            decide(false)
            state = .passing
            outstanding += 1
            context.fireChannelRead(wrapInboundOut(.head(head)))
            context.fireChannelRead(data)
        case (.held(let head, let request, let route), .end):
            state = .taken
            origin = head.headers["origin"].first
            logged = (head.method.rawValue, request.uri.path, 0, .now)
            if !isDecided {
                decide(true)
                // After this read: the decoder may still be delivering what came with it. An
                // upgrade keeps the decoder, which holds the frames a client may send early.
                let upgrading = Self.asksForWebSocket(head)
                context.eventLoop.assumeIsolated().execute { [self] in letGoOfHummingbird(keepingDecoder: upgrading) }
            }
            route.serve(request, on: self)
        case (.passing, _), (.held, .head):
            context.fireChannelRead(data)
        }
    }

    /// Answers a direct request with the server's responder (the same as Hummingbird's way:
    /// CORS, the access log, the route as the table has it now).
    private func answerDirect(_ head: HTTPRequestHead, _ http: HTTPRequest, _ context: ChannelHandlerContext) {
        let request = Request(head: http, body: RequestBody(buffer: body))
        body = ByteBuffer()
        let edge = EdgeContext(source: .init(channel: channel, logger: server.runtime.logger))
        let responder = DynamicResponder(server: server)
        respond(keepAlive: head.isKeepAlive, context) {
            (try? await responder.respond(to: request, context: edge)) ?? .error(.internalServerError, "internal error")
        }
    }

    /// Makes the answer in a task (the route may wait), writes it on the loop with its length,
    /// then goes on with the requests that waited behind it, or closes (`keepAlive` false).
    private func respond(keepAlive: Bool, _ context: ChannelHandlerContext, _ make: @escaping @Sendable () async -> Response) {
        let loop = context.eventLoop
        Task { [self] in
            var response = await make()
            let collected = CollectedBody()
            try? await response.body.write(collected)
            response.body = ResponseBody()
            let ready = response
            loop.execute { [self] in write(ready, body: collected.buffer, keepAlive: keepAlive) }
        }
    }

    private func write(_ response: Response, body: ByteBuffer, keepAlive: Bool) {
        guard let context else { return }
        var fields = response.headers
        fields[.contentLength] = String(body.readableBytes)
        if !keepAlive || quiescing { fields[.connection] = "close" }
        fields[.date] = HTTPDate.now
        fields[.server] = "switchboard"
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status.code, reasonPhrase: response.status.reasonPhrase),
                                    headers: HTTPHeaders(fields))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        guard keepAlive, !quiescing, case .answering(let waiting) = state else {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
            return
        }
        state = .passing
        guard !waiting.isEmpty else { return }
        for part in waiting { channelRead(context: context, data: wrapInboundOut(part)) }
        // What went on to Hummingbird is delivered at a read's completion.
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if case .passing = state, outstanding == 0 { context.close(promise: nil) }
        }
        if case .taken = state {
            if case .inputClosed? = event as? ChannelEvent { hangUp() }
            // The server is shutting down: the stream ends now (it would at its endpoint's stop).
            if event is ChannelShouldQuiesceEvent { hangUp() }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        decide(false)
        hangUp()
        context.fireChannelInactive()
    }

    /// The connection's first request was taken over: what Hummingbird set up for a first
    /// request goes (its task has ended, see `GuardedChannel`), and the request decoder gives
    /// way to `DropInbound` — this connection carries no more requests — unless it is kept
    /// for a WebSocket upgrade (see `upgrade`).
    private func letGoOfHummingbird(keepingDecoder: Bool) {
        guard let context else { return }
        let ops = context.pipeline.syncOperations
        if let behind { ops.removeHandler(behind, promise: nil) }
        behind = nil
        guard !keepingDecoder, let decoder = try? ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) else { return }
        // First the sink, then the decoder: what the decoder still holds lands in the sink.
        try? ops.addHandler(DropInbound(), position: .after(decoder))
        ops.removeHandler(decoder, promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writable?() }
        context.fireChannelWritabilityChanged()
    }

    private func hangUp() {
        guard !isGone else { return }
        isGone = true
        let gone = self.gone
        self.gone = nil
        gone?()
    }

    // MARK: Outbound (Hummingbird's responses)

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), outstanding > 0 { outstanding -= 1 }
        context.write(data, promise: promise)
    }

    // MARK: The route's side

    /// Answers with `response` (a refusal) and closes the connection.
    func refuse(_ response: Response) async {
        let body = CollectedBody()
        var response = response
        try? await response.body.write(body)
        let bytes = body.buffer
        response.headers[.contentLength] = String(bytes.readableBytes)
        response.headers[.connection] = "close"
        let head = response
        channel.eventLoop.execute { [self] in
            guard let context else { return }
            writeHead(head.status, head.headers, context)
            context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
            bodyBytes += bytes.readableBytes
            close()
        }
    }

    /// Sends the response head of a stream; `gone` runs once when the client hangs up (at
    /// once if it has already), `writable` whenever a full connection can take more again.
    func open(_ status: HTTPResponse.Status, _ headers: HTTPFields, gone: @escaping () -> Void, writable: @escaping () -> Void) {
        guard let context, !finished else { return gone() }
        self.writable = writable
        if isGone { return gone() }
        self.gone = gone
        // The connection ends with the stream (it carries no other request): say so, so that a
        // client expects the close after the last chunk instead of keeping the connection.
        var headers = headers
        headers[.connection] = "close"
        writeHead(status, headers, context)
    }

    /// Writes a body chunk through the HTTP encoder; the future completes once the socket took it.
    func write(_ chunk: ByteBuffer) -> EventLoopFuture<Void> {
        guard let context, !finished else { return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        bodyBytes += chunk.readableBytes
        return context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk))))
    }

    /// Where bytes go straight to the socket, past the HTTP encoder (which is first in the
    /// pipeline): for ready-made HTTP chunks.
    var front: ChannelHandlerContext? {
        try? channel.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
    }

    /// Ends the response (the last chunk), logs it, and closes the connection. `rawBytes` are
    /// body bytes the stream wrote at the `front`.
    func close(rawBytes: Int = 0) {
        gone = nil
        writable = nil
        guard let context, !finished else { return }
        finished = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        if let l = logged, server.accessLog {
            AccessLog.log(method: l.method, path: l.path, status: l.status, since: l.started, bytes: bodyBytes + rawBytes, logger: server.runtime.logger)
        }
        logged = nil
    }

    /// Answers a WebSocket handshake with 101 and `headers`, and hands the connection to NIO's
    /// frame decoder (frames up to the server's `maxWebSocketFrame`) followed by `session`: the
    /// HTTP handlers leave, and the bytes the client sent after its handshake reach the new
    /// ones. False when the client is gone. Runs on the connection's event loop.
    func upgrade(_ headers: HTTPFields, to session: any ChannelHandler) -> Bool {
        guard let context, !finished, !isGone else { return false }
        finished = true
        gone = nil
        writable = nil
        writeHead(.switchingProtocols, headers, context)
        context.flush()
        if let l = logged, server.accessLog {
            AccessLog.log(method: l.method, path: l.path, status: l.status, since: l.started, bytes: 0, logger: server.runtime.logger)
        }
        logged = nil
        let ops = context.pipeline.syncOperations
        do {
            // The guard left a watcher for Hummingbird's upgrade, which will not come.
            if let watcher = try? ops.handler(type: UpgradeWatcher.self) { ops.removeHandler(watcher, promise: nil) }
            let decoder = try ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let encoder = try ops.handler(type: HTTPResponseEncoder.self)
            ops.removeHandler(context: context, promise: nil)
            let frames = ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: server.maxWebSocketFrame))
            try ops.addHandlers([frames, session], position: .after(decoder))
            ops.removeHandler(encoder, promise: nil)
            // Last: what the decoder holds past the handshake goes on to the frame decoder.
            ops.removeHandler(decoder, promise: nil)
            return true
        } catch {
            channel.close(promise: nil)
            return false
        }
    }

    /// A GET that asks to become a WebSocket (`Upgrade: websocket`).
    static func asksForWebSocket(_ head: HTTPRequestHead) -> Bool {
        head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
    }

    private func writeHead(_ status: HTTPResponse.Status, _ fields: HTTPFields, _ context: ChannelHandlerContext) {
        var fields = fields
        if let cors = server.corsPolicy, let origin, cors.allows(origin: origin) {
            for field in cors.originHeaders(origin) { fields[field.name] = field.value }
        }
        fields[.date] = HTTPDate.now
        fields[.server] = "switchboard"
        server.stats.count(status)
        logged?.status = status.code
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status.code, reasonPhrase: status.reasonPhrase),
                                    headers: HTTPHeaders(fields))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
    }
}

/// Takes the request decoder's place on a connection whose stream was taken over: the bytes a
/// client sends on its stream are dropped (`StreamTakeover` ignores them anyway); events —
/// the client's half-close, the connection's end — go on.
private final class DropInbound: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// A response body read into one buffer (a refusal's few bytes).
private final class CollectedBody: ResponseBodyWriter, @unchecked Sendable {
    var buffer = ByteBuffer()

    func write(_ buffer: ByteBuffer) async throws {
        var b = buffer
        self.buffer.writeBuffer(&b)
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// The `Date` header's format (RFC 9110 §5.6.7), in UTC.
enum HTTPDate {
    static var now: String {
        var t = time(nil)
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
