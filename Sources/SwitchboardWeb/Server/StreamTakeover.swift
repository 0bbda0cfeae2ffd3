import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// A GET route that serves a plain request on its connection itself, ahead of Hummingbird:
/// a long-lived stream (SSE, a WebSocket) then holds no request task, no `Request` and no
/// response writer for its whole life — a few hundred bytes of state on the event loop instead.
protocol ConnectionStreaming: Sendable {
    /// Serves `request` (its head; a streamed GET has no body) on `connection`. Called on the
    /// connection's event loop; the route answers with `connection.refuse`, `open`, `write`
    /// … `close`, or (a WebSocket handshake) `upgrade`.
    func serve(_ request: Request, on connection: StreamTakeover)
}

/// Sits after the `ConnectionGuard` of every connection and takes three kinds of request away
/// from Hummingbird, whose per-connection task then never sees them:
/// - a plain GET on a streaming route (see `ConnectionStreaming`): the connection is the
///   stream's until it closes, and the stream's end closes it;
/// - a WebSocket handshake, as a connection's first request, on a route that serves its
///   sessions on the loop (`WebSocketRoute.stream`): see `upgrade`;
/// - a POST to a direct route (`HTTPRoute.direct`, `publish`): its body is read here and the
///   route answers it on the loop (or in a short task when it has to wait), with the server's
///   responder's CORS, counts and access log, the connection staying Hummingbird's for
///   anything else it asks, in order.
/// Everything else — other routes, HEAD, a GET with a body, `Expect: 100-continue`, a body
/// announced over the limit, a request pipelined behind one Hummingbird is answering, a
/// placeholder answering 503 — goes on untouched.
///
/// When the connection's first request is a stream, Hummingbird's side of the connection is
/// let go (`firstRequestTaken`; see `GuardedChannel`): its task ends, the handlers waiting for a
/// first request behind this one are removed, and the request decoder gives way to a handler
/// that drops whatever the client sends (or, for a WebSocket, to the frame decoder), so that an
/// idle stream holds its socket, a few handlers and its subscriber, nothing else.
///
/// - Important: Everything but `refuse` runs on the connection's event loop.
final class StreamTakeover: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    enum State {
        case passing
        /// Boxed: a held request is brief, the handler lives as long as its connection.
        indirect case held(HTTPRequestHead, Request, any ConnectionStreaming)
        /// The body of a request to a direct route is being read (into `body`).
        indirect case reading(HTTPRequestHead, HTTPRequest)
        /// A direct request is being answered; what the client sent after it waits here.
        case answering([HTTPServerRequestPart])
        case taken
    }

    let server: HTTPServerComponent
    /// The connection.
    let channel: any Channel
    /// Waits for the first request behind this handler (removed, and let go of, when that one
    /// is taken over: it holds the request decoder and the upgraders).
    private var behind: (any RemovableChannelHandler)?
    private let decided: EventLoopPromise<Bool>
    private var isDecided = false
    var state = State.passing
    /// Requests passed on whose response has not ended yet.
    private var outstanding = 0
    var context: ChannelHandlerContext?
    var gone: (() -> Void)?
    var writable: (() -> Void)?
    var isGone = false
    /// The taken-over response has ended: nothing more is written.
    var finished = false
    /// The request line and start, for the access log.
    var logged: (method: String, path: String, status: Int, started: ContinuousClock.Instant)?
    var bodyBytes = 0
    /// The request's `Origin`, for the CORS headers of the answer.
    var origin: String?
    /// The body of the direct request being read (nil otherwise: most connections never have one).
    var body: ByteBuffer?
    /// The server is shutting down: a connection that only carried direct requests closes
    /// when it is idle (Hummingbird, which closes its own, never saw them).
    var quiescing = false

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
            if head.asksForWebSocket {
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
                body = context.channel.allocator.buffer(capacity: min(head.headers["content-length"].first.flatMap { Int($0) } ?? 256, 16_384))
                return
            }
            decide(false)
            outstanding += 1
            context.fireChannelRead(data)
        case (.reading, .body(let chunk)):
            guard (body?.readableBytes ?? 0) + chunk.readableBytes <= server.requestBodyLimit else {
                // Answered before the body is read: the connection ends with the answer.
                state = .answering([])
                body = nil
                let limit = server.requestBodyLimit
                return respond(keepAlive: false, context) { .error(.contentTooLarge, "request body exceeds the limit of \(limit) bytes") }
            }
            body?.writeImmutableBuffer(chunk)
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
                let upgrading = head.asksForWebSocket
                context.eventLoop.assumeIsolated().execute { [self] in letGoOfHummingbird(keepingDecoder: upgrading) }
            }
            route.serve(request, on: self)
        case (.passing, _), (.held, .head):
            context.fireChannelRead(data)
        }
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
}

/// Takes the request decoder's place on a connection whose stream was taken over: the bytes a
/// client sends on its stream are dropped (`StreamTakeover` ignores them anyway); events —
/// the client's half-close, the connection's end — go on.
private final class DropInbound: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
