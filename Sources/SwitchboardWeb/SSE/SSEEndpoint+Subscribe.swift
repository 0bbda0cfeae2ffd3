import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard
import SwitchboardChannels

/// A client's `GET /events`: who it is, its replay (from the ring, or the store), then live.
extension SSEEndpoint {
    // MARK: Subscribers

    func subscribe(_ request: Request, _ context: EdgeContext) async -> Response {
        guard let r = state.withLock({ $0.running }) else {
            return .error(.serviceUnavailable, "the event stream is not running")
        }
        // HEAD asks what a GET would get, without a stream (and without a subscriber).
        if request.method == .head {
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream; charset=utf-8"
            headers[.cacheControl] = "no-cache"
            return Response(status: .ok, headers: headers)
        }
        let room = request.query("room").flatMap { $0.isEmpty ? nil : $0 }
        let viewer: Viewer
        switch await auth.viewer(request, room: room) {
        case .viewer(let v, _): viewer = v
        case .refused(let refusal, _): return refusal
        }
        let channel = context.channel
        let subscriber = SSESubscriber(id: nextSubscriber.add(1, ordering: .relaxed).newValue, channel: channel, room: room, viewer: viewer,
                                       policy: config.policy, pendingLimit: config.bufferBytes)
        channel.limitUnreadBytes(config.bufferBytes)
        // Subscribe first, then read the history: an event arriving in between is in both,
        // and the subscriber skips the copy; none can fall between them.
        r.subscribers.add(subscriber)
        // The endpoint may have halted since `running` was read: its stream end would miss
        // this subscriber, so refuse it (the client retries) instead of leaving it hanging.
        if r.closed.load(ordering: .sequentiallyConsistent) {
            r.subscribers.remove(subscriber)
            var headers = HTTPFields()
            headers[.retryAfter] = "1"
            return .error(.serviceUnavailable, "the event stream is restarting", headers: headers)
        }
        let lastEventID = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.query("lastEventId")
        let lastID = lastEventID.flatMap(MessageID.init)
        let ringReplay = lastID.map { r.history.replay(after: $0, room: room) }
        served.add(1, ordering: .relaxed)
        // A client that hangs up ends its stream at once, not at the next write.
        let (watcher, unwatch) = ClientGoneWatcher.watch(channel, gone: { subscriber.end() }, writable: { subscriber.becameWritable() })

        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        let retry = config.retry
        let body = ResponseBody { writer in
            let leave = self.presence.join(viewer.name, room: room ?? self.config.defaultRoom)
            defer {
                leave()
                unwatch()
                r.subscribers.remove(subscriber)
                self.retired.withLock { $0.delivered += subscriber.delivered; $0.dropped += subscriber.dropped }
            }
            var first = ByteBuffer(string: "retry: \(retry)\n\n")
            var replayed = Set<MessageID>()
            var replay = ringReplay
            if let lastID, let ring = ringReplay, ring.gap, let stored = await self.resume(after: lastID, room: room, viewer: viewer, ring: ring) {
                replay = stored
            }
            replay = replay.map { HistoryRing.Replay(events: $0.events.filter(subscriber.matches), gap: $0.gap, oldest: $0.oldest) }
            if let replay {
                if replay.gap {
                    let notice: JSONValue = ["lastEventId": .string(lastEventID ?? ""), "oldest": replay.oldest.map { .string($0.description) } ?? .null]
                    first.writeString(SSEEvent.encode(id: nil, event: "gap", data: notice.jsonText))
                }
                replayed = Set(replay.events.compactMap(\.id))
                // The replay goes out in chunks, each written only when the connection takes
                // more (the writer waits on NIO's write watermark): a client that never reads
                // holds one chunk, not the whole history.
                for e in replay.events {
                    first.writeImmutableBuffer(e.bytes)
                    if first.readableBytes >= 65_536 {
                        try await writer.write(first)
                        first = ByteBuffer()
                    }
                }
            }
            try await writer.write(first)
            // From here on the fan-out writes to the connection itself, on its event loop.
            let ids = replayed
            try await channel.eventLoop.submit { subscriber.goLive(replayed: ids, writingPast: watcher) }.get()
            try await subscriber.done.wait()
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
