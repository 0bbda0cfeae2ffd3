import NIOCore
import NIOHTTP1

/// The life of one HTTP/1.1 connection as a value: events in (a request part the decoder read,
/// a response the handler finished, a timer, the server shutting down), actions out. It does no
/// I/O; `HTTPConnectionHandler` feeds it and performs what it returns.
///
/// Modelled on SwiftNIO's `HTTPServerPipelineHandler` — one request at a time, and no reading
/// while a response is pending, so a client that pipelines costs at most what was already
/// read — and on `NIOTypedHTTPServerUpgraderStateMachine`: a struct whose methods take an event
/// and return an action, tested transition by transition.
///
/// The rules it keeps:
/// - the request timer (`headerTimeout`; `keepAliveTimeout` between requests) runs from the
///   moment the connection waits for a request until the request is whole, and for a WebSocket
///   handshake until its 101 or refusal is written;
/// - a request that cannot be answered (a parse error, a body over the limit, an `Upgrade` on a
///   route that takes none) gets one answer and the connection closes after it;
/// - a request that said `Connection: close` (or HTTP/1.0 without keep-alive) is answered with
///   what happened, and whatever the client sent after it is dropped;
/// - a stream or an upgraded WebSocket owns the connection until it ends.
struct HTTPConnectionMachine {
    /// What the handler found the route for a request head to be.
    enum Route: Equatable {
        /// An ordinary route (or none: the responder answers 404/405): read the body, answer.
        case respond
        /// A GET on a streaming route (SSE), without a body: the route serves the connection.
        case stream
        /// A WebSocket handshake on a route that upgrades.
        case handshake
        /// `Upgrade: websocket` on a route that does not upgrade.
        case notUpgradable
    }

    enum State: Equatable {
        /// Waiting for a request head: the connection's first (`first`), or the next one.
        case idle(first: Bool)
        /// Reading the body of a request (`bytes` so far), to answer once it is whole.
        case readingBody(bytes: Int, keepAlive: Bool)
        /// A handshake or a stream's request is whole except for its end.
        case awaitingEnd(Route, keepAlive: Bool)
        /// The request is whole and its answer is being made; what the client sends meanwhile
        /// is held (`held`) until the answer is written, or dropped (`!keepAlive`).
        case answering(keepAlive: Bool)
        /// A WebSocket handshake waits for its route's answer: upgrade or refusal.
        case handshaking
        /// A stream owns the connection until it ends; the client's bytes are dropped.
        case streaming
        /// Upgraded, or closing: nothing more is read or answered.
        case done
    }

    /// A refusal the machine decides on by itself (the handler writes it as JSON and closes).
    enum Refusal: Equatable {
        case badRequest(String)
        case headersTooLarge
        case timedOut
        case tooLarge(limit: Int)
        case notUpgradable
        case versionNotSupported
        case expectationFailed
    }

    enum Action: Equatable {
        case none
        /// Hand the head on: the handler starts the request (a body follows unless `end`).
        case begin(Route)
        /// Hand a body part on.
        case body(ByteBuffer)
        /// The request is whole: answer it (`respond`), or let the route serve it (`stream`,
        /// `handshake`).
        case dispatch(Route)
        /// Write `100 Continue`, then keep reading the body.
        case sendContinue
        /// Answer with a refusal, then close.
        case refuse(Refusal)
        /// Replay `parts` (held while answering) through the machine, then read.
        case replay([HTTPServerRequestPart])
        /// Issue a read if one was held back; arm the timer for the next request.
        case readNext
        case close
    }

    let bodyLimit: Int
    /// The most header fields a request may have (NIO's decoder bounds their bytes, 80 KB, not
    /// their number).
    static let maxHeaderFields = 256
    private(set) var state = State.idle(first: true)
    /// Parts read while an answer was being made (pipelined requests).
    private var held: [HTTPServerRequestPart] = []
    /// The server is shutting down: no new request is started.
    private(set) var quiescing = false

    init(bodyLimit: Int) {
        self.bodyLimit = bodyLimit
    }

    /// Whether the connection holds a slot without being served (for shedding), and whether the
    /// request timer should run.
    var isWaiting: Bool {
        switch state {
        case .idle, .readingBody, .awaitingEnd, .handshaking: true
        case .answering, .streaming, .done: false
        }
    }

    /// Whether the request timer runs: until the request is whole, and for a handshake until it is answered.
    var timerRuns: Bool { isWaiting }

    /// Whether a read may be issued now: not while an answer is being made or a handshake is decided.
    var mayRead: Bool {
        switch state {
        case .idle, .readingBody, .awaitingEnd, .streaming: true
        case .answering, .handshaking, .done: false
        }
    }

    /// Whether the next timeout is the keep-alive one (an idle kept-alive connection closes
    /// without an answer) rather than the request one (408).
    var idleBetweenRequests: Bool { state == .idle(first: false) }

    // MARK: Inbound

    /// A request head, with what its route is. `bodyAllowed` is false for a head that announces
    /// no body (`Content-Length: 0` or none, no `Transfer-Encoding`).
    mutating func head(_ head: HTTPRequestHead, route: Route) -> Action {
        switch state {
        case .answering(let keepAlive):
            if keepAlive { held.append(.head(head)) }
            return .none
        case .streaming, .done, .handshaking:
            return .none
        case .readingBody, .awaitingEnd:
            // The decoder never does this: a head before the last request's end.
            state = .done
            return .close
        case .idle:
            break
        }
        guard head.version.major == 1 else { return refuse(.versionNotSupported) }
        guard head.headers.count <= Self.maxHeaderFields else { return refuse(.headersTooLarge) }
        if quiescing {
            state = .done
            return .close
        }
        let keepAlive = head.isKeepAlive
        let announced = Self.announcedLength(head)
        switch route {
        case .notUpgradable:
            return refuse(.notUpgradable)
        case .handshake, .stream:
            // A handshake or a stream's GET carries no body: one announced is a bad request
            // (a handshake that announces a body and never sends it must not hold the slot).
            guard announced == 0 else { return refuse(.badRequest(route == .handshake ? "a WebSocket handshake has no body" : "this GET takes no body")) }
            state = .awaitingEnd(route, keepAlive: keepAlive)
            return .begin(route)
        case .respond:
            if let n = announced, n > bodyLimit { return refuse(.tooLarge(limit: bodyLimit)) }
            if let expect = head.headers.first(name: "expect") {
                guard expect.lowercased() == "100-continue" else { return refuse(.expectationFailed) }
                state = .readingBody(bytes: 0, keepAlive: keepAlive)
                return .sendContinue
            }
            state = .readingBody(bytes: 0, keepAlive: keepAlive)
            return .begin(.respond)
        }
    }

    mutating func body(_ part: ByteBuffer) -> Action {
        switch state {
        case .readingBody(let bytes, let keepAlive):
            let total = bytes + part.readableBytes
            guard total <= bodyLimit else { return refuse(.tooLarge(limit: bodyLimit)) }
            state = .readingBody(bytes: total, keepAlive: keepAlive)
            return .body(part)
        case .answering(let keepAlive):
            if keepAlive { held.append(.body(part)) }
            return .none
        case .awaitingEnd:
            return refuse(.badRequest("this request takes no body"))
        case .idle, .handshaking, .streaming, .done:
            return .none
        }
    }

    mutating func end() -> Action {
        switch state {
        case .readingBody(_, let keepAlive):
            state = .answering(keepAlive: keepAlive)
            return .dispatch(.respond)
        case .awaitingEnd(let route, let keepAlive):
            state = route == .handshake ? .handshaking : (route == .stream ? .streaming : .answering(keepAlive: keepAlive))
            return .dispatch(route)
        case .answering(let keepAlive):
            if keepAlive { held.append(.end(nil)) }
            return .none
        case .idle, .handshaking, .streaming, .done:
            return .none
        }
    }

    /// The decoder gave up on the bytes (a malformed request, or a head over its limit).
    mutating func parseError(headersTooLarge: Bool) -> Action {
        switch state {
        case .idle, .readingBody, .awaitingEnd:
            return refuse(headersTooLarge ? .headersTooLarge : .badRequest("the request is malformed"))
        case .answering:
            // What came after the request being answered is not a request.
            return closeAfterAnswer()
        case .handshaking, .streaming, .done:
            return .none
        }
    }

    /// The answer being made still goes out, then the connection closes; nothing held is served.
    private mutating func closeAfterAnswer() -> Action {
        held.removeAll()
        state = .answering(keepAlive: false)
        return .none
    }

    /// The request timer fired.
    mutating func timeout() -> Action {
        switch state {
        case .idle(first: false):
            state = .done
            return .close
        case .idle(first: true), .readingBody, .awaitingEnd, .handshaking:
            return refuse(.timedOut)
        case .answering, .streaming, .done:
            return .none
        }
    }

    /// The client closed its side: nothing more will come.
    mutating func inputClosed() -> Action {
        switch state {
        case .idle, .readingBody, .awaitingEnd:
            state = .done
            return .close
        case .answering:
            return closeAfterAnswer()
        case .handshaking, .streaming, .done:
            return .none
        }
    }

    /// The server is shutting down: an idle connection closes now, a busy one after its answer.
    mutating func quiesce() -> Action {
        quiescing = true
        switch state {
        case .idle:
            state = .done
            return .close
        case .answering:
            return closeAfterAnswer()
        case .readingBody, .awaitingEnd, .handshaking, .streaming, .done:
            return .none
        }
    }

    // MARK: Outbound

    /// Whether the answer being written should say `Connection: close`.
    var closesAfterAnswer: Bool {
        switch state {
        case .answering(let keepAlive): !keepAlive || quiescing
        default: true
        }
    }

    /// The answer to the request was written whole.
    mutating func answered() -> Action {
        guard case .answering(let keepAlive) = state else { return .none }
        guard keepAlive, !quiescing else {
            state = .done
            return .close
        }
        state = .idle(first: false)
        guard !held.isEmpty else { return .readNext }
        let parts = held
        held = []
        return .replay(parts)
    }

    /// A handshake's 101 was written: the connection is a WebSocket's now.
    mutating func upgraded() {
        state = .done
    }

    /// The route refused a handshake or a stream (the refusal is written, then the close), or
    /// a stream ended.
    mutating func finished() -> Action {
        state = .done
        return .close
    }

    /// The route of a handshake or stream started its response (a stream's head, not a 101).
    mutating func streamStarted() {
        if state == .handshaking { state = .streaming }
    }

    private mutating func refuse(_ why: Refusal) -> Action {
        held.removeAll()
        state = .done
        return .refuse(why)
    }

    /// The body length a head announces: 0 for none, nil for a chunked body (length unknown).
    static func announcedLength(_ head: HTTPRequestHead) -> Int? {
        if head.headers.contains(name: "transfer-encoding") { return nil }
        let lengths = head.headers["content-length"]
        guard !lengths.isEmpty else { return 0 }
        return lengths.map { Int($0) ?? .max }.max()
    }
}
