import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard
import SwitchboardChannels

/// A client's WebSocket: its handshake, who it is, its resume, then live — served on its
/// connection's event loop (`HTTPConnectionHandler` hands it over). Short tasks do what waits
/// (the token check, the store, putting a message on the channel); an idle session has none.
extension WebSocketEndpoint {
    /// What one session knows of its client while it runs.
    private final class Client: @unchecked Sendable {
        /// Who the token says the client is; an `auth` frame may replace it with a fresher
        /// token of the same user. Only the session's inbound queue touches it.
        var identity: Identity?
        /// Sets when the session closes for an expired token (on the session's event loop).
        var expireAt: (@Sendable (Date) -> Void)?
        let address: String
        let room: String?
        let viewer: Viewer
        /// The sender; a hello frame may set it. Only the session's inbound queue touches it.
        var name: String?

        init(identity: Identity?, address: String, room: String?, viewer: Viewer, name: String?) {
            self.identity = identity
            self.address = address
            self.room = room
            self.viewer = viewer
            self.name = name
        }
    }

    /// Serves a handshake the takeover kept: checks it, who the client is and that the endpoint
    /// runs (refusing with 400/426, 401/403 or 503 and a JSON reason), answers 101, then sends
    /// the resume asked for and goes live.
    func serve(_ request: Request, on connection: HTTPConnectionHandler, sink: any MessageSink) async {
        let query = Self.query(request.uri.description)
        let room = query["room"].flatMap { $0.isEmpty ? nil : $0 }
        let resumeFrom: MessageID?
        switch StoredResume.cursor(query["lastEventId"], parameter: "lastEventId") {
        case .success(let id): resumeFrom = id
        case .failure(let problem): return await connection.refuse(problem.response)
        }
        let accept: HTTPFields
        switch WebSocketHandshake.answer(request.headers) {
        case .success(let headers): accept = headers
        case .failure(let refusal): return await connection.refuse(refusal.response)
        }
        guard let r = running.withLock({ $0 }) else {
            var headers = HTTPFields()
            headers[.retryAfter] = "1"
            return await connection.refuse(.error(.serviceUnavailable, "the WebSocket endpoint is not running", headers: headers))
        }
        let viewer: Viewer
        let identity: Identity?
        switch await auth.viewer(headers: request.headers, query: { query[$0] }, room: room) {
        case .viewer(let v, let i): (viewer, identity) = (v, i)
        case .refused(let refusal, _):
            count(.unauthorized)
            return await connection.refuse(refusal)
        }
        let here: String
        switch viewer.presenceRoom(asked: query["presence"], room: room, defaultRoom: config.stream.defaultRoom) {
        case .room(let r): here = r
        case .refused(let refusal): return await connection.refuse(refusal)
        }
        let channel = connection.channel
        let loop = channel.eventLoop
        let name = identity?.name ?? query["name"].flatMap { $0.isEmpty ? nil : String($0.prefix(MessageInput.maxNameLength)) }
        let client = Client(identity: identity, address: channel.clientAddress, room: room, viewer: viewer, name: name)
        let wire = WebSocketWire(eventLoop: loop, maxMessageSize: config.maxMessageSize)
        let framing = WSFraming(wire)
        let s = WSSubscriber(id: nextSession.add(1, ordering: .relaxed).newValue, channel: channel, room: room, viewer: viewer,
                             policy: config.stream.policy, pendingLimit: config.stream.bufferBytes, framing: framing)
        let inbox = InboundQueue(channel: channel) { [self] inbound in await received(inbound, from: client, wire: wire, sink: sink) }
        let upgraded = try? await loop.submit { [config] in
            wire.onMessage = { inbox.enqueue($0) }
            wire.onWritable = { [weak s] in s?.becameWritable() }
            // A close frame either way, or the connection's end, ends the live side.
            wire.onEnd = { [weak s] in s?.finish() }
            // Every message before the client's close frame is answered before the close is.
            wire.beforeClose = { inbox.whenDrained($0) }
            channel.limitUnreadBytes(config.stream.bufferBytes)
            if connection.upgrade(accept, to: wire) { return true }
            // The client is gone: the callbacks (which hold the wire through the queue) go too.
            wire.onMessage = { _ in }
            wire.beforeClose = { $0() }
            return false
        }.get()
        guard upgraded == true else { return }
        // The endpoint may have halted since `running` was read: its end would miss this
        // session, so it ends now (the client reconnects).
        guard r.admit(s) else {
            loop.execute { s.end() }
            return
        }
        sessions.withLock { $0[s.id] = Session(name: name, room: room, subscriber: s, since: Date()) }
        count(.connected)
        // Counted in its presence room while connected (a name given later in a hello frame is not).
        let leave = presence.join(Viewer(name: name, rooms: viewer.rooms), room: here)
        let unlisten = presence.listen { change in
            guard room == nil || change.room == room, viewer.rooms?.allows(change.room) ?? true else { return }
            loop.execute { wire.send(text: change.json.jsonText) }
        }
        // At the token's expiry the session closes with 4001, unless an `auth` frame came first.
        let expireAt: @Sendable (Date) -> Void = { [weak s, weak wire] until in
            let (session, socket) = (s, wire)
            loop.execute {
                session?.expire(at: until) { [weak socket] in socket?.close(.unknown(Self.tokenExpiredCode), reason: "token expired") }
            }
        }
        client.expireAt = expireAt
        if let until = identity?.goodUntil { expireAt(until) }
        try? await loop.submit {
            s.whenEnded { [self] in
                unlisten()
                leave()
                sessions.withLock { $0[s.id] = nil }
                r.leave(s)
                if wire.failure != nil { count(.errors) }
            }
        }.get()
        var skip = Set<MessageID>()
        if let from = resumeFrom { skip = await resume(after: from, room: room, viewer: viewer, wire: wire) }
        // The resume's frames are written already: the live frames held meanwhile follow them.
        let resumed = skip
        loop.execute { s.goLive(replayed: resumed, framing: framing) }
    }

    /// The close code of a session whose token expired (4000–4999: the application's own).
    static let tokenExpiredCode: UInt16 = 4001

    /// One message from the client: a resume request, a fresh token, or what `handle` answers.
    private func received(_ inbound: WSInbound, from client: Client, wire: WebSocketWire, sink: any MessageSink) async {
        if case .text(let text) = inbound, let token = Self.authRequest(text) {
            let reply = await refresh(client, token: token)
            wire.eventLoop.execute { wire.send(text: Self.frame(reply)) }
            return
        }
        if case .text(let text) = inbound, let request = Self.resumeRequest(text) {
            switch request {
            case .success(let id?): await resume(after: id, room: client.room, viewer: client.viewer, wire: wire)
            case .success(nil): break
            case .failure(let problem):
                let text = Self.frame(["type": "error", "error": .string(problem.message), "parameter": "resume"])
                wire.eventLoop.execute { wire.send(text: text) }
            }
            return
        }
        let reply = await handle(inbound, name: &client.name, identity: client.identity, client: client.address, sink: sink)
        let text = Self.frame(reply)
        wire.eventLoop.execute { wire.send(text: text) }
    }

    /// The token of a `{"type": "auth", "token": "<JWT>"}` frame; nil when the frame is not one.
    static func authRequest(_ text: String) -> String? {
        guard text.contains("\"auth\""), case .object(let o)? = try? JSONParser.parse(text).value, o["type"] == "auth",
            let token = o["token"]?.stringValue
        else { return nil }
        return token
    }

    /// A fresh token for an open session: verified, and for the same user and the same rooms to
    /// read (what the session was opened with); then its expiry is what counts. Anything else
    /// is refused with the reason, and the old expiry stands.
    private func refresh(_ client: Client, token: String) async -> JSONObject {
        func refused(_ why: String, _ reason: String) -> JSONObject {
            ["type": "error", "error": .string(why), "reason": .string(reason), "parameter": "auth"]
        }
        switch await auth.identify(token: token) {
        case nil:
            return refused("this endpoint has no auth slot: there is no token to refresh", "noAuth")
        case .failure(let failure)?:
            return refused(failure.detail, failure.reason.rawValue)
        case .success(let fresh)?:
            guard let current = client.identity, fresh.name == current.name, fresh.subscribe == current.subscribe else {
                return refused("a fresh token must be for the same user and the same rooms: reconnect with it instead", "otherIdentity")
            }
            client.identity = fresh
            if let until = fresh.goodUntil { client.expireAt?(until) }
            return ["type": "auth", "ok": true, "until": fresh.goodUntil.map { .string(LifecycleEvent.timestamp($0)) } ?? .null]
        }
    }

    /// The id of a `{"resume": "<id>"}` frame (none for an empty one), or why it is not an
    /// id; nil when the frame is not a resume request.
    static func resumeRequest(_ text: String) -> Result<MessageID?, StoredResume.CursorProblem>? {
        guard text.contains("\"resume\""), case .object(let o)? = try? JSONParser.parse(text).value, o.count == 1,
            let value = o["resume"]
        else { return nil }
        return StoredResume.cursor(value.stringValue ?? value.jsonText, parameter: "resume")
    }

    /// Sends the stored messages after `lastID`, then `{"type": "resumed", "count", "gap"}`;
    /// returns the ids of the last ones sent, which the live stream then skips. The store is
    /// read a page at a time and the frames go out in writes of about 64 KB, each once the one
    /// before was taken: a client that does not read holds one page and one write.
    @discardableResult
    private func resume(after lastID: MessageID, room: String?, viewer: Viewer, wire: WebSocketWire) async -> Set<MessageID> {
        guard let store = try? store?.get() else {
            await write([Self.frame(["type": "error", "error": "this endpoint keeps no history to resume from"])], to: wire)
            return []
        }
        var sent = RecentIDs()
        var count = 0
        var newest = lastID
        do {
            var pages = try await StoredResume.pages(
                after: lastID, room: room, defaultRoom: config.stream.defaultRoom, viewer: viewer.historyViewer, limit: config.stream.resumeLimit,
                pageBytes: min(config.stream.bufferBytes, 65_536), store: store)
            while case let page = try await pages.next(), !page.isEmpty {
                let shown = page.filter { viewer.sees($0, defaultRoom: config.stream.defaultRoom) }
                guard await write(shown.map(Self.frame), to: wire) else { return sent.ids }
                for m in page {
                    sent.insert(m.id)
                    if m.id > newest { newest = m.id }
                }
                count += page.count
            }
            // Dispatched, but not committed when the store was read: from the recent events.
            let since = newest
            let late = recent.withLock { ring in
                ring.filter { e in
                    guard let id = e.id, id > since else { return false }
                    return (room == nil || e.room == room) && viewer.sees(room: e.room, parties: e.parties)
                }
            }
            if !late.isEmpty {
                var bytes = ByteBuffer()
                for e in late { bytes.writeImmutableBuffer(e.framed) }
                let frames = bytes
                guard (try? await wire.eventLoop.flatSubmit { wire.write(frames) }.get()) != nil else { return sent.ids }
                for e in late { if let id = e.id { sent.insert(id) } }
                count += late.count
            }
            await write([Self.frame(["type": "resumed", "after": .string(lastID.description), "count": .int(count), "gap": .bool(pages.gap)])], to: wire)
        } catch {
            await write([Self.frame(["type": "error", "error": .string("could not resume: \(error)")])], to: wire)
        }
        return sent.ids
    }

    /// Writes `texts` as text frames, in chunks of about 64 KB, each once the one before went
    /// out; false when the connection is gone.
    @discardableResult
    private func write(_ texts: [String], to wire: WebSocketWire) async -> Bool {
        let loop = wire.eventLoop
        var chunk = ByteBuffer()
        for (i, text) in texts.enumerated() {
            chunk.writeImmutableBuffer(WSEvent.textFrame(text))
            guard chunk.readableBytes >= 65_536 || i == texts.count - 1 else { continue }
            let bytes = chunk
            chunk = ByteBuffer()
            guard (try? await loop.flatSubmit { wire.write(bytes) }.get()) != nil else { return false }
        }
        return true
    }
}

/// The WebSocket endpoint's side of a handshake its connection hands over.
struct WebSocketSessions: ConnectionStreaming {
    let endpoint: WebSocketEndpoint
    let sink: any MessageSink

    func serve(_ request: Request, on connection: HTTPConnectionHandler) async {
        await endpoint.serve(request, on: connection, sink: sink)
    }
}
