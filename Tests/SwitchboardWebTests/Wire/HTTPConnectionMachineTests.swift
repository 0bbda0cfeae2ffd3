import NIOCore
import NIOHTTP1
import Testing
@testable import SwitchboardWeb

/// The connection's state machine on its own: every state meets every event.
@Suite struct HTTPConnectionMachineTests {
    typealias Machine = HTTPConnectionMachine

    static func head(_ method: HTTPMethod = .GET, _ uri: String = "/", version: HTTPVersion = .http1_1, _ headers: [(String, String)] = []) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
    }

    /// A machine in `state`, reached through the events a connection sees.
    static func machine(in state: Machine.State, keepAlive: Bool = true) -> Machine {
        var m = Machine(bodyLimit: 100)
        let close: [(String, String)] = keepAlive ? [] : [("Connection", "close")]
        switch state {
        case .idle(first: true): break
        case .idle(first: false):
            _ = m.head(head(.POST, "/p", close + [("Content-Length", "1")]), route: .respond)
            _ = m.body(ByteBuffer(string: "x"))
            _ = m.end()
            _ = m.answered()
        case .readingBody:
            _ = m.head(head(.POST, "/p", close + [("Content-Length", "10")]), route: .respond)
        case .awaitingEnd(let route, _):
            _ = m.head(head(.GET, "/s", close + (route == .handshake ? [("Upgrade", "websocket")] : [])), route: route)
        case .answering:
            _ = m.head(head(.POST, "/p", close), route: .respond)
            _ = m.end()
        case .handshaking:
            _ = m.head(head(.GET, "/ws", [("Upgrade", "websocket")]), route: .handshake)
            _ = m.end()
        case .streaming:
            _ = m.head(head(.GET, "/events"), route: .stream)
            _ = m.end()
        case .done:
            _ = m.head(head(.GET, "/", [("Content-Length", "500")]), route: .respond)
        }
        #expect(m.state == state || state == .readingBody(bytes: 0, keepAlive: keepAlive), "reached \(m.state), wanted \(state)")
        return m
    }

    static let states: [Machine.State] = [
        .idle(first: true), .idle(first: false), .readingBody(bytes: 0, keepAlive: true), .awaitingEnd(.stream, keepAlive: true),
        .awaitingEnd(.handshake, keepAlive: true), .answering(keepAlive: true), .handshaking, .streaming, .done,
    ]

    @Test func aRequestIsReadWholeThenAnsweredThenTheNextIsRead() {
        var m = Machine(bodyLimit: 10)
        #expect(m.mayRead && m.timerRuns && !m.idleBetweenRequests)
        #expect(m.head(Self.head(.POST, "/p", [("Content-Length", "4")]), route: .respond) == .begin(.respond))
        #expect(m.body(ByteBuffer(string: "ab")) == .body(ByteBuffer(string: "ab")))
        #expect(m.body(ByteBuffer(string: "cd")) == .body(ByteBuffer(string: "cd")))
        #expect(m.end() == .dispatch(.respond))
        #expect(!m.mayRead && !m.timerRuns, "no reading and no timer while the answer is made")
        #expect(!m.closesAfterAnswer)
        #expect(m.answered() == .readNext)
        #expect(m.state == .idle(first: false) && m.idleBetweenRequests && m.mayRead)
    }

    @Test func whatIsPipelinedBehindAnAnswerIsHeldAndReplayedInOrder() {
        var m = Self.machine(in: .answering(keepAlive: true))
        let next = Self.head(.GET, "/next")
        #expect(m.head(next, route: .respond) == .none)
        #expect(m.body(ByteBuffer(string: "z")) == .none)
        #expect(m.end() == .none)
        #expect(m.answered() == .replay([.head(next), .body(ByteBuffer(string: "z")), .end(nil)]))
        #expect(m.state == .idle(first: false))
    }

    @Test func aConnectionCloseRequestIsAnsweredAndWhatFollowsItIsDropped() {
        var m = Self.machine(in: .answering(keepAlive: false), keepAlive: false)
        #expect(m.head(Self.head(.POST, "/p"), route: .respond) == .none)
        #expect(m.parseError(headersTooLarge: false) == .none, "garbage after a close request is not answered")
        #expect(m.closesAfterAnswer)
        #expect(m.answered() == .close)
        #expect(m.state == .done)
        // HTTP/1.0 without keep-alive is the same.
        var old = Machine(bodyLimit: 10)
        _ = old.head(Self.head(.POST, "/p", version: .http1_0), route: .respond)
        _ = old.end()
        #expect(old.closesAfterAnswer && old.answered() == .close)
    }

    @Test func garbageAfterAKeptAliveRequestIsNotAnsweredTwice() {
        var m = Self.machine(in: .answering(keepAlive: true))
        #expect(m.parseError(headersTooLarge: false) == .none)
        #expect(m.closesAfterAnswer, "the answer says Connection: close")
        #expect(m.answered() == .close)
    }

    @Test func refusalsTheMachineDecidesOnItsOwn() {
        var m = Machine(bodyLimit: 10)
        #expect(m.head(Self.head(.POST, "/p", [("Content-Length", "11")]), route: .respond) == .refuse(.tooLarge(limit: 10)))
        #expect(m.state == .done)
        m = Machine(bodyLimit: 10)
        _ = m.head(Self.head(.POST, "/p", [("Transfer-Encoding", "chunked")]), route: .respond)
        _ = m.body(ByteBuffer(string: "123456"))
        #expect(m.body(ByteBuffer(string: "78901")) == .refuse(.tooLarge(limit: 10)), "a chunked body over the limit")
        m = Machine(bodyLimit: 10)
        #expect(m.head(Self.head(.POST, "/messages", [("Upgrade", "websocket")]), route: .notUpgradable) == .refuse(.notUpgradable))
        m = Machine(bodyLimit: 10)
        #expect(m.head(Self.head(.GET, "/ws", [("Upgrade", "websocket"), ("Content-Length", "5")]), route: .handshake)
                == .refuse(.badRequest("a WebSocket handshake has no body")))
        m = Machine(bodyLimit: 10)
        #expect(m.head(Self.head(.GET, "/events", [("Content-Length", "2")]), route: .stream) == .refuse(.badRequest("this GET takes no body")))
        m = Machine(bodyLimit: 10)
        #expect(m.head(Self.head(.GET, "/", version: HTTPVersion(major: 2, minor: 0)), route: .respond) == .refuse(.versionNotSupported))
        m = Machine(bodyLimit: 10)
        #expect(m.head(Self.head(.POST, "/p", [("Expect", "something-else")]), route: .respond) == .refuse(.expectationFailed))
        m = Machine(bodyLimit: 10)
        let many = (0...Machine.maxHeaderFields).map { ("X-\($0)", "v") }
        #expect(m.head(Self.head(.GET, "/", many), route: .respond) == .refuse(.headersTooLarge))
        m = Machine(bodyLimit: 10)
        #expect(m.head(Self.head(.POST, "/p", [("Expect", "100-continue"), ("Content-Length", "3")]), route: .respond) == .sendContinue)
        #expect(m.state == .readingBody(bytes: 0, keepAlive: true))
    }

    @Test func theRequestTimerRunsUntilTheRequestIsWholeAndAHandshakeUntilItsAnswer() {
        for state in Self.states {
            let m = Self.machine(in: state)
            let runs = [Machine.State.idle(first: true), .idle(first: false), .readingBody(bytes: 0, keepAlive: true),
                        .awaitingEnd(.stream, keepAlive: true), .awaitingEnd(.handshake, keepAlive: true), .handshaking].contains(state)
            #expect(m.timerRuns == runs, "\(state)")
            #expect(m.isWaiting == runs, "\(state): shed-able while waiting")
        }
    }

    @Test func aTimeoutIs408WhileARequestOrHandshakeIsAwaitedAndACloseBetweenRequests() {
        let expected: [Machine.State: Machine.Action] = [
            .idle(first: true): .refuse(.timedOut), .idle(first: false): .close, .readingBody(bytes: 0, keepAlive: true): .refuse(.timedOut),
            .awaitingEnd(.stream, keepAlive: true): .refuse(.timedOut), .awaitingEnd(.handshake, keepAlive: true): .refuse(.timedOut),
            .answering(keepAlive: true): .none, .handshaking: .refuse(.timedOut), .streaming: .none, .done: .none,
        ]
        for state in Self.states {
            var m = Self.machine(in: state)
            #expect(m.timeout() == expected[state], "\(state)")
        }
    }

    @Test func readingStopsWhileAnAnswerIsMadeOrAHandshakeDecided() {
        for state in Self.states {
            let m = Self.machine(in: state)
            let reads = ![Machine.State.answering(keepAlive: true), .handshaking, .done].contains(state)
            #expect(m.mayRead == reads, "\(state)")
        }
    }

    @Test func aParseErrorIsAnsweredOnlyWhenNothingElseIs() {
        for state in Self.states {
            var m = Self.machine(in: state)
            let action = m.parseError(headersTooLarge: true)
            switch state {
            case .idle, .readingBody, .awaitingEnd: #expect(action == .refuse(.headersTooLarge), "\(state)")
            default: #expect(action == .none, "\(state)")
            }
        }
    }

    @Test func theClientsHalfCloseAndTheServersQuiesce() {
        for state in Self.states {
            var closing = Self.machine(in: state)
            var quiescing = Self.machine(in: state)
            let closed = closing.inputClosed()
            let quiesced = quiescing.quiesce()
            switch state {
            case .idle:
                #expect(closed == .close && quiesced == .close, "\(state)")
            case .readingBody, .awaitingEnd:
                #expect(closed == .close && quiesced == .none, "\(state): a request being read is finished first")
            case .answering:
                #expect(closed == .none && quiesced == .none)
                #expect(closing.closesAfterAnswer && quiescing.closesAfterAnswer, "the answer goes out, then the close")
            default:
                #expect(closed == .none && quiesced == .none, "\(state)")
            }
        }
        // A head arriving after the quiesce is not started.
        var m = Self.machine(in: .readingBody(bytes: 0, keepAlive: true))
        _ = m.quiesce()
        _ = m.body(ByteBuffer(string: "0123456789"))
        _ = m.end()
        #expect(m.answered() == .close)
    }

    @Test func streamsAndHandshakesOwnTheConnectionUntilTheyEnd() {
        var stream = Self.machine(in: .awaitingEnd(.stream, keepAlive: true))
        #expect(stream.end() == .dispatch(.stream))
        #expect(stream.state == .streaming)
        #expect(stream.head(Self.head(), route: .respond) == .none, "what a client sends on its stream is not a request")
        #expect(stream.finished() == .close)

        var ws = Self.machine(in: .awaitingEnd(.handshake, keepAlive: true))
        #expect(ws.end() == .dispatch(.handshake))
        #expect(ws.state == .handshaking && !ws.mayRead)
        ws.upgraded()
        #expect(ws.state == .done)
        // Refused: the refusal is written, then the close.
        var refused = Self.machine(in: .handshaking)
        #expect(refused.finished() == .close)
        // A handshake on a kept-alive connection, after another request.
        var later = Self.machine(in: .idle(first: false))
        #expect(later.head(Self.head(.GET, "/ws", [("Upgrade", "websocket")]), route: .handshake) == .begin(.handshake))
        #expect(later.end() == .dispatch(.handshake))
    }
}

extension HTTPConnectionMachine.State: Hashable {
    public func hash(into hasher: inout Hasher) { hasher.combine("\(self)") }
}

extension HTTPConnectionMachine.Action: CustomStringConvertible {
    public var description: String {
        switch self {
        case .replay(let parts): "replay(\(parts.count) parts)"
        default: "\(String(reflecting: self))"
        }
    }
}
