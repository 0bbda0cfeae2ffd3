import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Switchboard
import Synchronization
import WSClient

/// A Switchboard server's messages as an `AsyncSequence`, from Swift: the WebSocket endpoint
/// (or the SSE endpoint, where no WebSocket opens) with reconnect (jittered backoff: 10 ms up to 2 s, then every 5 s, as switchboard.js and
/// phoenix.js), resume from the last id, a gap filled from the `history` endpoint, each message
/// once, `publish` returning the server's ack, presence, and a token asked for again before it
/// expires.
///
/// ```swift
/// let client = SwitchboardClient(.init(url: "http://127.0.0.1:8080", room: "lobby", name: "ann"))
/// client.start()
/// Task { for await event in client.events { if case .message(let m) = event { print(m.from, m.text) } } }
/// let ack = try await client.publish("hi")
/// ```
///
/// The WebSocket is hummingbird-project/swift-websocket's client; the SSE stream, the history
/// and the POST fallback go through AsyncHTTPClient, the stream read with `SSEParser`.
public final class SwitchboardClient: Sendable {
    /// Where the server is and who the client is.
    public struct Options: Sendable {
        /// The server's base URL (`http://host:port`).
        public var url: String
        public var websocketPath = "/ws"
        /// The `sse` endpoint's path (nil: none; the client stays on the WebSocket).
        public var eventsPath: String? = "/events"
        /// The SSE endpoint's `event` name for messages.
        public var event = "message"
        /// The transports, in order of preference: the client moves to the next after the
        /// WebSocket failed to open twice in a row (as switchboard.js).
        public var transports: [Transport] = [.websocket, .sse]
        /// An SSE stream that sends nothing this long — not even the endpoint's heartbeat
        /// comment (every 15 s by default) — is taken for dead and reopened.
        public var idleTimeout: Duration = .seconds(45)
        public var historyPath: String? = "/history"
        public var publishPath = "/messages"
        /// One room (nil: every room the client may read).
        public var room: String?
        /// The room the server counts the client in for presence (nil: its `room`, else the
        /// server's default room) — for a client that reads every room.
        public var presence: String?
        /// The sender on an open server.
        public var name: String?
        /// A token, asked for at each connect and again before it expires.
        public var token: (@Sendable () async throws -> String)?
        /// Resume after this id from the start.
        public var lastID: String?

        /// Options for the server at `url`.
        public init(url: String, room: String? = nil, name: String? = nil, token: (@Sendable () async throws -> String)? = nil, lastID: String? = nil) {
            self.url = url
            self.room = room
            self.name = name
            self.token = token
            self.lastID = lastID
        }
    }

    /// What the client hears.
    public enum Event: Sendable {
        /// A message, once, in the order the server sent it.
        case message(ClientMessage)
        /// A presence notice (`event`, `user`, `room`, `online`), as the server sent it.
        case presence(JSONValue)
        /// The connection's state.
        case status(Status)
        /// The server could not resume from `after`; the client fetched the gap from history.
        case gap(after: String?)
    }

    /// The connection's state.
    public enum Status: String, Sendable { case connecting, live, reconnecting, closed }

    /// How the client receives.
    public enum Transport: String, Sendable { case websocket, sse }

    /// The server's answer to a publish.
    public struct Ack: Sendable, Equatable {
        public let id: String
        public let status: String
    }

    /// A publish the server refused, with its reason.
    public struct Refusal: Error, CustomStringConvertible {
        public let message: String
        public let reason: String?
        public var description: String { message }
    }

    static let backoff: [Duration] = [.milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(150), .milliseconds(200),
                                      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2)]

    private struct State {
        var writer: WebSocketOutboundWriter?
        var pending: [String: CheckedContinuation<Ack, any Error>] = [:]
        var nextRef = 1
        var lastID: String?
        var seen = Set<String>()
        var order: [String] = []
        var closed = false
        var loop: Task<Void, Never>?
        var token: String?
        var transport: Transport?
    }

    /// How one connection ended.
    private struct Outcome {
        /// It was open (the backoff starts again).
        var opened: Bool
        /// Reconnect at once (a token expired, or is about to).
        var now: Bool
    }

    public let options: Options
    /// Everything the client hears; iterate it once.
    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let state: Mutex<State>
    private let logger: Logger

    /// A client with `options`; `start()` connects.
    public init(_ options: Options, logger: Logger = Logger(label: "switchboard-client")) {
        self.options = options
        self.logger = logger
        (events, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        state = Mutex(State(lastID: options.lastID))
    }

    /// The last message id the client saw.
    public var lastID: String? { state.withLock { $0.lastID } }

    /// The transport of the current (or last) connection.
    public var transport: Transport? { state.withLock { $0.transport } }

    /// Connects, and keeps connecting until `close()`.
    public func start() {
        let task = Task { [self] in await run() }
        state.withLock { $0.loop = task }
    }

    /// Closes the connection and ends `events`.
    public func close() async {
        let (writer, loop, pending) = state.withLock { s in
            s.closed = true
            defer { s.pending = [:] }
            return (s.writer, s.loop, s.pending)
        }
        for (_, c) in pending { c.resume(throwing: Refusal(message: "the client closed", reason: "closed")) }
        try? await writer?.close(.normalClosure, reason: nil)
        loop?.cancel()
        await loop?.value
        continuation.yield(.status(.closed))
        continuation.finish()
    }

    private var isClosed: Bool { state.withLock { $0.closed } }

    private func run() async {
        var attempt = 0
        var socketFailures = 0
        while !isClosed, !Task.isCancelled {
            continuation.yield(.status(attempt == 0 ? .connecting : .reconnecting))
            var token: String?
            if let source = options.token {
                token = try? await source()
                state.withLock { $0.token = token }
            }
            let sse = options.eventsPath != nil && options.transports.contains(.sse)
            let socket = options.transports.contains(.websocket) && (socketFailures < 2 || !sse)
            let outcome = socket ? await openSocket(token) : sse ? await openEvents(token) : Outcome(opened: false, now: false)
            if socket { socketFailures = outcome.opened ? 0 : socketFailures + 1 }
            let pending = state.withLock { s in
                s.writer = nil
                defer { s.pending = [:] }
                return s.pending
            }
            for (_, c) in pending { c.resume(throwing: Refusal(message: "the connection closed before the ack", reason: "closed")) }
            if isClosed { break }
            // The backoff starts again after a connection that was live.
            if outcome.opened { attempt = 0 }
            // A token that expired: reconnect at once with a fresh one.
            if outcome.now { attempt = 0; continue }
            let base = attempt < Self.backoff.count ? Self.backoff[attempt] : .seconds(5)
            attempt += 1
            continuation.yield(.status(.reconnecting))
            try? await Task.sleep(for: base * Double.random(in: 0.5...1.5))
        }
    }

    /// The query both transports open with: the room, where to be counted present, where to
    /// resume, and the name on an open server.
    private func query(token: String?) -> [URLQueryItem] {
        var query: [URLQueryItem] = []
        if let room = options.room { query.append(URLQueryItem(name: "room", value: room)) }
        if let here = options.presence { query.append(URLQueryItem(name: "presence", value: here)) }
        if let last = lastID { query.append(URLQueryItem(name: "lastEventId", value: last)) }
        if token == nil, let name = options.name { query.append(URLQueryItem(name: "name", value: name)) }
        return query
    }

    /// One WebSocket connection, until it ends.
    private func openSocket(_ token: String?) async -> Outcome {
        var url = URLComponents(string: options.url + options.websocketPath)
        let secure = url?.scheme == "https"
        url?.scheme = secure ? "wss" : "ws"
        let query = query(token: token)
        url?.queryItems = query.isEmpty ? nil : query
        var configuration = WebSocketClientConfiguration()
        if let token { configuration.additionalHeaders[.init("Sec-WebSocket-Protocol")!] = "switchboard.v1, bearer.\(token)" }
        state.withLock { $0.transport = .websocket }
        var expired = false
        let opened = Atomic<Bool>(false)
        do {
            let close = try await WebSocketClient.connect(url: url?.string ?? "", configuration: configuration, logger: logger) { [self] inbound, outbound, _ in
                state.withLock { $0.writer = outbound }
                opened.store(true, ordering: .relaxed)
                continuation.yield(.status(.live))
                let refresher = Task { await refresh(token, outbound) }
                defer { refresher.cancel() }
                for try await message in inbound.messages(maxSize: 1 << 22) {
                    guard case .text(let text) = message, let frame = try? JSONParser.parse(text).value else { continue }
                    await handle(frame)
                }
            }
            expired = close?.closeCode == .unknown(4001)
        } catch {
            logger.debug("connect failed: \(error)")
        }
        return Outcome(opened: opened.load(ordering: .relaxed), now: expired)
    }

    /// One SSE stream, until it ends, goes quiet for `idleTimeout`, says `expired`, or its token
    /// is about to expire (SSE cannot be told a fresh one: the stream is reopened with it, and
    /// resumes).
    private func openEvents(_ token: String?) async -> Outcome {
        guard let path = options.eventsPath, var url = URLComponents(string: options.url + path) else { return Outcome(opened: false, now: false) }
        let query = query(token: token)
        url.queryItems = query.isEmpty ? nil : query
        var request = HTTPClientRequest(url: url.string ?? "")
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        state.withLock { $0.transport = .sse }
        let response: HTTPClientResponse
        do {
            // The deadline bounds the whole stream: past it, the client reconnects and resumes.
            response = try await HTTPClient.shared.execute(request, timeout: .hours(24))
        } catch {
            logger.debug("connect failed: \(error)")
            return Outcome(opened: false, now: false)
        }
        guard response.status == .ok else {
            logger.debug("the event stream answered \(response.status.code)")
            return Outcome(opened: false, now: false)
        }
        continuation.yield(.status(.live))
        let lastHeard = Heard()
        let idle = options.idleTimeout
        return await withTaskGroup(of: Outcome?.self) { group in
            group.addTask { [self] in
                var parser = SSEParser()
                do {
                    for try await chunk in response.body {
                        lastHeard.at.withLock { $0 = .now }
                        for case .event(let e) in parser.feed(chunk.readableBytesView) {
                            switch e.event {
                            case options.event:
                                if let v = try? JSONParser.parse(e.data).value, let m = ClientMessage(v) { deliver(m) }
                            case "presence":
                                if let v = try? JSONParser.parse(e.data).value { continuation.yield(.presence(v)) }
                            case "gap":
                                await fillGap()
                            case "expired":
                                return Outcome(opened: true, now: true)
                            default:
                                break
                            }
                        }
                    }
                } catch {
                    logger.debug("the event stream ended: \(error)")
                }
                return Outcome(opened: true, now: false)
            }
            group.addTask {
                while (try? await Task.sleep(for: idle / 4)) != nil {
                    if ContinuousClock.now - lastHeard.at.withLock({ $0 }) > idle { return Outcome(opened: true, now: false) }
                }
                return nil
            }
            if options.token != nil, let token, let wait = Self.refreshDelay(token) {
                group.addTask {
                    guard (try? await Task.sleep(for: wait)) != nil else { return nil }
                    return Outcome(opened: true, now: true)
                }
            }
            var first: Outcome?
            while first == nil, let next = await group.next() { first = next }
            group.cancelAll()
            return first ?? Outcome(opened: true, now: false)
        }
    }

    /// One frame from the server.
    private func handle(_ frame: JSONValue) async {
        switch frame["type"]?.stringValue {
        case "message":
            if let m = ClientMessage(frame) { deliver(m) }
        case "presence":
            continuation.yield(.presence(frame))
        case "resumed":
            if frame["gap"] == true { await fillGap() }
        default:
            guard let ref = frame["ref"].map({ $0.stringValue ?? $0.jsonText }),
                  let c = state.withLock({ $0.pending.removeValue(forKey: ref) })
            else { return }
            if frame["type"] == "ack", let id = frame["id"]?.stringValue {
                c.resume(returning: Ack(id: id, status: frame["status"]?.stringValue ?? "accepted"))
            } else {
                c.resume(throwing: Refusal(message: frame["error"]?.stringValue ?? "refused", reason: frame["reason"]?.stringValue))
            }
        }
    }

    /// A message once, whichever way it came.
    private func deliver(_ m: ClientMessage) {
        let fresh = state.withLock { s -> Bool in
            guard s.seen.insert(m.id).inserted else { return false }
            s.order.append(m.id)
            if s.order.count > 2000 { s.seen.remove(s.order.removeFirst()) }
            if let last = s.lastID, let a = UInt64(last), let b = UInt64(m.id), b <= a { return true }
            s.lastID = m.id
            return true
        }
        if fresh { continuation.yield(.message(m)) }
    }

    /// The server could not resume from our last id: what came after it, from history.
    private func fillGap() async {
        let after = lastID
        continuation.yield(.gap(after: after))
        guard let historyPath = options.historyPath, var cursor = after else { return }
        for _ in 0..<20 {
            var url = URLComponents(string: options.url + historyPath)
            url?.queryItems = [URLQueryItem(name: "after", value: cursor), URLQueryItem(name: "limit", value: "500")]
                + (options.room.map { [URLQueryItem(name: "room", value: $0)] } ?? [])
            var request = HTTPClientRequest(url: url?.string ?? "")
            if let token = state.withLock({ $0.token }) { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(30)), response.status == .ok,
                  let body = try? await response.body.collect(upTo: 1 << 24),
                  let page = try? JSONParser.parse(String(buffer: body)).value
            else { return }
            for m in page["messages"]?.arrayValue ?? [] { if let message = ClientMessage(m) { deliver(message) } }
            guard let next = page["next"]?.stringValue else { return }
            cursor = next
        }
    }

    /// Before the token expires (at 80 % of what is left, at least 5 s ahead): a fresh one, as
    /// an `auth` frame.
    private func refresh(_ token: String?, _ outbound: WebSocketOutboundWriter) async {
        guard let source = options.token, var current = token else { return }
        while let wait = Self.refreshDelay(current) {
            guard (try? await Task.sleep(for: wait)) != nil, let fresh = try? await source() else { return }
            state.withLock { $0.token = fresh }
            try? await outbound.write(.text(JSONValue.object(["type": "auth", "token": .string(fresh)]).jsonText))
            current = fresh
        }
    }

    /// How long until a fresh token is due: at 80 % of what is left of `token`'s lifetime, at
    /// least 5 s before it expires, at least 1 s from now (nil: it has no expiry).
    static func refreshDelay(_ token: String) -> Duration? {
        guard let exp = expiry(of: token) else { return nil }
        let left = exp.timeIntervalSinceNow
        let wait = max(1, min(left * 0.8, left - 5))
        return .milliseconds(Int64(min(wait, 86_400) * 1000))
    }

    /// A JWT's expiry.
    static func expiry(of token: String) -> Date? {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), let claims = try? JSONParser.parse(String(decoding: data, as: UTF8.self)).value,
              let exp = claims["exp"]?.doubleValue
        else { return nil }
        return Date(timeIntervalSince1970: exp)
    }

    /// Sends a message; returns the server's ack (over the WebSocket, matched by a `ref`), or
    /// throws its refusal. Without a live WebSocket it POSTs.
    public func publish(_ text: String, room: String? = nil, to: String? = nil) async throws -> Ack {
        var frame: JSONObject = ["text": .string(text)]
        if let room { frame["room"] = .string(room) }
        if let to { frame["to"] = .string(to) }
        let (writer, ref, token) = state.withLock { s -> (WebSocketOutboundWriter?, String, String?) in
            defer { s.nextRef += 1 }
            return (s.writer, String(s.nextRef), s.token)
        }
        if let writer {
            frame["ref"] = .string(ref)
            if token == nil, let name = options.name { frame["name"] = .string(name) }
            let text = JSONValue.object(frame).jsonText
            return try await withCheckedThrowingContinuation { c in
                state.withLock { $0.pending[ref] = c }
                Task {
                    do { try await writer.write(.text(text)) } catch {
                        if let c = state.withLock({ $0.pending.removeValue(forKey: ref) }) { c.resume(throwing: error) }
                    }
                }
            }
        }
        if token == nil, let name = options.name { frame["from"] = .string(name) }
        var request = HTTPClientRequest(url: options.url + options.publishPath)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(string: JSONValue.object(frame).jsonText))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = (try? JSONParser.parse(String(buffer: try await response.body.collect(upTo: 1 << 20))).value) ?? .null
        guard response.status.code == 202 || response.status.code == 200, let id = body["id"]?.stringValue else {
            throw Refusal(message: body["error"]?.stringValue ?? "HTTP \(response.status.code)", reason: body["reason"]?.stringValue)
        }
        return Ack(id: id, status: body["status"]?.stringValue ?? "accepted")
    }
}

/// When an SSE stream last sent anything (its reader and its watchdog share it).
private final class Heard: Sendable {
    let at = Mutex(ContinuousClock.now)
}

/// A message as the client hands it on.
public struct ClientMessage: Sendable, Equatable {
    public let id: String
    public let from: String
    public let text: String
    public let room: String?
    public let to: String?
    public let time: String?
    /// The whole JSON object, for the fields not named here (`data`, `spans`).
    public let json: JSONValue

    init?(_ v: JSONValue) {
        guard let id = v["id"]?.stringValue, let text = v["text"]?.stringValue else { return nil }
        self.id = id
        self.text = text
        from = v["from"]?.stringValue ?? ""
        room = v["room"]?.stringValue
        to = v["to"]?.stringValue
        time = v["time"]?.stringValue
        json = v
    }
}
