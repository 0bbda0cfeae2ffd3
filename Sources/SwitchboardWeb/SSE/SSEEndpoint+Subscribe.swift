import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard
import SwitchboardChannels

/// A client's `GET /events`: who it is, its replay (from the ring, or the store), then live.
///
/// A plain GET is served on its connection (`serve(_:on:)`, handed over by the server's
/// `HTTPConnectionHandler`): for its whole life the stream holds its subscriber and nothing of the
/// request. HEAD and in-process requests take the responder's way (`subscribe`); both share the
/// rest.
extension SSEEndpoint {
    /// A subscriber let in, with what it gets before it is live.
    struct Opened {
        let running: Running
        let subscriber: SSESubscriber
        /// `retry`, and a gap notice when the replay cannot reach back far enough.
        let first: ByteBuffer
        /// The replay from the ring (already filtered for the subscriber); after a store's
        /// replay, only its events that the store does not have yet are sent.
        let replay: [SSEEvent]
        /// The replay from the store, when the ring does not reach back to the client's id:
        /// read a page at a time as the connection takes it.
        let stored: StoredPages?
        /// When the client's token expires (nil: no token, or an API key).
        let goodUntil: Date?
        /// The room presence counts the client in (`?presence=`, else its room, else the default).
        let presenceRoom: String
    }

    enum Opening {
        case refused(Response)
        case opened(Opened)
    }

    static var streamHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return headers
    }

    /// Lets a client in: who it is (or the refusal), its subscriber — added before the history
    /// is read, so that an event arriving in between is in both (the subscriber skips the copy)
    /// and none falls between them — and its replay from the ring, or the store past the ring.
    func open(_ request: Request, channel: any Channel) async -> Opening {
        guard let r = state.withLock({ $0.running }) else {
            return .refused(.error(.serviceUnavailable, "the event stream is not running"))
        }
        let room = request.query("room").flatMap { $0.isEmpty ? nil : $0 }
        let lastEventID = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.query("lastEventId")
        let lastID: MessageID?
        switch StoredResume.cursor(lastEventID, parameter: request.headers[HTTPField.Name("Last-Event-ID")!] == nil ? "lastEventId" : "Last-Event-ID") {
        case .success(let id): lastID = id
        case .failure(let problem): return .refused(problem.response)
        }
        let viewer: Viewer
        let identity: Identity?
        switch await auth.viewer(request, room: room) {
        case .viewer(let v, let i): (viewer, identity) = (v, i)
        case .refused(let refusal, _): return .refused(refusal)
        }
        let here: String
        switch viewer.presenceRoom(asked: request.query("presence"), room: room, defaultRoom: config.stream.defaultRoom) {
        case .room(let r): here = r
        case .refused(let refusal): return .refused(refusal)
        }
        let subscriber = SSESubscriber(id: nextSubscriber.add(1, ordering: .relaxed).newValue, channel: channel, room: room, viewer: viewer,
                                       policy: config.stream.policy, pendingLimit: config.stream.bufferBytes)
        channel.limitUnreadBytes(config.stream.bufferBytes)
        // The endpoint may have halted since `running` was read: its stream end would miss
        // this subscriber, so refuse it (the client retries) instead of leaving it hanging.
        guard r.hub.admit(subscriber) else {
            var headers = HTTPFields()
            headers[.retryAfter] = "1"
            return .refused(.error(.serviceUnavailable, "the event stream is restarting", headers: headers))
        }
        var replay = lastID.map { r.history.replay(after: $0, room: room) }
        served.add(1, ordering: .relaxed)

        var first = ByteBuffer(string: "retry: \(config.retry)\n\n")
        var stored: StoredPages?
        if let lastID, let ring = replay, ring.gap, let pages = await storedPages(after: lastID, room: room, viewer: viewer) {
            stored = pages
            replay = HistoryRing.Replay(events: ring.events, gap: pages.gap, oldest: pages.oldest ?? ring.events.first?.id ?? ring.oldest)
        }
        let events = replay?.events.filter(subscriber.matches) ?? []
        if let replay, replay.gap {
            let notice: JSONValue = ["lastEventId": .string(lastEventID ?? ""), "oldest": replay.oldest.map { .string($0.description) } ?? .null]
            first.writeString(SSEEvent.encode(id: nil, event: "gap", data: notice.jsonText))
        }
        return .opened(Opened(running: r, subscriber: subscriber, first: first, replay: events, stored: stored, goodUntil: identity?.goodUntil, presenceRoom: here))
    }

    /// Writes the start of a stream — `retry`, a gap notice, the replay — in chunks of about
    /// 64 KB, each once the one before went out, reading the store's replay a page at a time
    /// meanwhile: a client that never reads holds one chunk and one page, not its whole
    /// history. Returns the ids of the last events replayed (the live side may have them too,
    /// as a prefix).
    func writeStart(_ o: Opened, _ write: (ByteBuffer) async throws -> Void) async throws -> Set<MessageID> {
        var chunk = o.first
        var sent = RecentIDs()
        func add(_ e: SSEEvent) async throws {
            chunk.writeImmutableBuffer(e.bytes)
            if let id = e.id { sent.insert(id) }
            if chunk.readableBytes >= 65_536 {
                try await write(chunk)
                chunk = ByteBuffer()
            }
        }
        var ring = o.replay
        if var pages = o.stored {
            while case let page = try await pages.next(), !page.isEmpty {
                for m in page {
                    let e = encode(m)
                    if o.subscriber.matches(e) { try await add(e) }
                }
            }
            // The ring's events the store does not have yet (not committed when it was read).
            let oldest = sent.oldest
            ring = ring.filter { e in e.id.map { id in !sent.ids.contains(id) && oldest.map { id > $0 } ?? true } ?? false }
        }
        for e in ring { try await add(e) }
        try await write(chunk)
        return sent.ids
    }

    /// `event: expired` and the end of the stream when the client's token expires: the client
    /// reconnects with a fresh one. Called on the subscriber's event loop.
    func armExpiry(_ o: Opened) {
        guard let until = o.goodUntil else { return }
        let s = o.subscriber
        s.expire(at: until) { [weak s] in s?.end(saying: Self.expiredNotice.framed) }
    }

    /// What a stream says as its last event when its token expires.
    static let expiredNotice = SSEEvent(id: nil, room: "", text: SSEEvent.encode(id: nil, event: "expired", data: #"{"reason":"token expired"}"#))

    /// A stream is over: its subscriber goes, with its counts.
    func finish(_ o: Opened) {
        o.running.hub.leave(o.subscriber)
    }

    // MARK: Ahead of Hummingbird

    /// Serves a plain GET on its connection (the `HTTPConnectionHandler` hands it over).
    func serve(_ request: Request, on connection: HTTPConnectionHandler) async {
        let o: Opened
        switch await open(request, channel: connection.channel) {
        case .refused(let response): return await connection.refuse(response)
        case .opened(let opened): o = opened
        }
        let s = o.subscriber
        let leave = presence.join(s.viewer, room: o.presenceRoom)
        let loop = connection.channel.eventLoop
        do {
            try await loop.submit { [self] in
                s.whenEnded {
                    leave()
                    self.finish(o)
                    connection.close(rawBytes: s.bytesWritten)
                }
                connection.open(.ok, Self.streamHeaders, gone: { s.end() }, writable: { s.becameWritable() })
                self.armExpiry(o)
            }.get()
            let ids = try await writeStart(o) { chunk in try await loop.flatSubmit { connection.write(chunk) }.get() }
            // From here on the fan-out writes to the socket itself, on the connection's loop.
            let retry = config.retry
            try await loop.submit { s.goLive(replayed: ids, framing: connection.front.map { SSEFraming(socket: $0, retry: retry) }) }.get()
        } catch {
            loop.execute { s.end() }
        }
    }

    // MARK: Through Hummingbird

    func subscribe(_ request: Request, _ context: EdgeContext) async -> Response {
        // HEAD asks what a GET would get, without a stream (and without a subscriber).
        if request.method == .head {
            guard state.withLock({ $0.running }) != nil else { return .error(.serviceUnavailable, "the event stream is not running") }
            return Response(status: .ok, headers: Self.streamHeaders)
        }
        let channel = context.channel
        let o: Opened
        switch await open(request, channel: channel) {
        case .refused(let response): return response
        case .opened(let opened): o = opened
        }
        let s = o.subscriber
        // A client that hangs up ends its stream at once, not at the next write.
        let (watcher, unwatch) = ClientGoneWatcher.watch(channel, gone: { s.end() }, writable: { s.becameWritable() })
        let body = ResponseBody { writer in
            let leave = self.presence.join(s.viewer, room: o.presenceRoom)
            defer {
                leave()
                unwatch()
                self.finish(o)
            }
            let ids = try await self.writeStart(o) { try await writer.write($0) }
            let ended = Latch<Void>()
            try await channel.eventLoop.submit {
                s.whenEnded { _ = ended.resolve(.success(())) }
                self.armExpiry(o)
                s.goLive(replayed: ids, framing: (try? channel.pipeline.syncOperations.context(handler: watcher)).map { SSEFraming(socket: $0, retry: self.config.retry) })
            }.get()
            try await ended.wait()
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: Self.streamHeaders, body: body)
    }
}

/// The SSE endpoint's side of a stream its connection hands over.
struct SSEConnectionStreaming: ConnectionStreaming {
    let endpoint: SSEEndpoint

    func serve(_ request: Request, on connection: HTTPConnectionHandler) async {
        await endpoint.serve(request, on: connection)
    }
}
