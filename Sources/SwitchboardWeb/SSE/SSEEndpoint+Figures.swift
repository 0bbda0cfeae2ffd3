import Switchboard
import SwitchboardChannels

/// What `inspect` (and so `/metrics`) shows of an SSE endpoint.
extension SSEEndpoint: ClientCounting {
    /// Subscribers connected now.
    public var subscriberCount: Int { state.withLock { $0.running }?.hub.subscribers.count ?? 0 }

    public var connectedClients: Int { subscriberCount }

    public func inspect() async -> JSONValue {
        let (r, beat) = state.withLock { ($0.running, $0.heartbeat) }
        let subs = r?.hub.subscribers.all ?? []
        var o = JSONObject()
        o["path"] = .string(config.path)
        o["source"] = .string(source.target)
        if let store { o["historyStore"] = .string(store.target) }
        o["subscribers"] = .int(subs.count)
        o["served"] = .int(served.load(ordering: .relaxed))
        o["heartbeat"] = .string(beat.short)
        o["policy"] = .string(config.stream.policy.rawValue)
        o["bufferBytes"] = .int(config.stream.bufferBytes)
        if let r {
            o["history"] = ["count": .int(r.history.count), "capacity": .int(r.history.capacity),
                            "bytes": .int(r.history.bytes), "maxBytes": .int(r.history.maxBytes),
                            "newest": r.history.newest.map { .string($0.description) } ?? .null]
            o["hub"] = r.hub.tapFigures ?? "listener in the source's loop"
        }
        // Since the endpoint was made: those connected now and those gone.
        let (delivered, dropped) = totals.adding(subs.map { ($0.delivered, $0.dropped) })
        o["delivered"] = .int(delivered)
        o["dropped"] = .int(dropped)
        let now = ContinuousClock.now
        let sample = subs.sorted { $0.id < $1.id }.prefix(20).map { s -> JSONValue in
            ["id": .int(Int(s.id)), "room": s.room.map(JSONValue.string) ?? .null, "connectedSeconds": .double((now - s.since).milliseconds / 1000),
             "delivered": .int(s.delivered), "dropped": .int(s.dropped), "policy": .string(s.policy.rawValue)]
        }
        o["subscriberSample"] = .array(Array(sample))
        return .object(o)
    }
}
