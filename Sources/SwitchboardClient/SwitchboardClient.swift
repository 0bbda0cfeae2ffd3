import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Switchboard
import Synchronization
import WSClient

/// A Switchboard server's messages as an `AsyncSequence`, from Swift: the WebSocket endpoint
/// with reconnect (jittered backoff: 10 ms up to 2 s, then every 5 s, as switchboard.js and
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
/// The WebSocket is hummingbird-project/swift-websocket's client; the history and the POST
/// fallback go through AsyncHTTPClient.
public final class SwitchboardClient: Sendable {
    /// Where the server is and who the client is.
    public struct Options: Sendable {
        /// The server's base URL (`http://host:port`).
        public var url: String
        public var websocketPath = "/ws"
        public var historyPath: String? = "/history"
        public var publishPath = "/messages"
        /// One room (nil: every room the client may read).
        public var room: String?
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
        while !isClosed, !Task.isCancelled {
            continuation.yield(.status(attempt == 0 ? .connecting : .reconnecting))
            var token: String?
            if let source = options.token {
                token = try? await source()
                state.withLock { $0.token = token }
            }
            var url = URLComponents(string: options.url + options.websocketPath)
            let secure = url?.scheme == "https"
            url?.scheme = secure ? "wss" : "ws"
            var query: [URLQueryItem] = []
            if let room = options.room { query.append(URLQueryItem(name: "room", value: room)) }
            if let last = lastID { query.append(URLQueryItem(name: "lastEventId", value: last)) }
            if token == nil, let name = options.name { query.append(URLQueryItem(name: "name", value: name)) }
            url?.queryItems = query.isEmpty ? nil : query
            var configuration = WebSocketClientConfiguration()
            if let token { configuration.additionalHeaders[.init("Sec-WebSocket-Protocol")!] = "switchboard.v1, bearer.\(token)" }
            var expired = false
            let opened = Atomic<Bool>(false)
            let connectedToken = token
            do {
                let close = try await WebSocketClient.connect(url: url?.string ?? "", configuration: configuration, logger: logger) { [self] inbound, outbound, _ in
                    state.withLock { $0.writer = outbound }
                    opened.store(true, ordering: .relaxed)
                    continuation.yield(.status(.live))
                    let refresher = Task { await refresh(connectedToken, outbound) }
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
            let pending = state.withLock { s in
                s.writer = nil
                defer { s.pending = [:] }
                return s.pending
            }
            for (_, c) in pending { c.resume(throwing: Refusal(message: "the connection closed before the ack", reason: "closed")) }
            if isClosed { break }
            // The backoff starts again after a connection that was live.
            if opened.load(ordering: .relaxed) { attempt = 0 }
            // A token that expired: reconnect at once with a fresh one.
            if expired { attempt = 0; continue }
            let base = attempt < Self.backoff.count ? Self.backoff[attempt] : .seconds(5)
            attempt += 1
            continuation.yield(.status(.reconnecting))
            try? await Task.sleep(for: base * Double.random(in: 0.5...1.5))
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
        while let exp = Self.expiry(of: current) {
            let left = exp.timeIntervalSinceNow
            let wait = max(1, min(left * 0.8, left - 5))
            guard (try? await Task.sleep(for: .milliseconds(Int64(min(wait, 86_400) * 1000)))) != nil,
                  let fresh = try? await source()
            else { return }
            state.withLock { $0.token = fresh }
            try? await outbound.write(.text(JSONValue.object(["type": "auth", "token": .string(fresh)]).jsonText))
            current = fresh
        }
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
