import Switchboard
import SwitchboardChannels
import Synchronization

/// The one intake of the input endpoints — `publish`, WebSocket inbound messages, `webhook-in`:
/// every message goes through the same checks in the same order, then the same put, and comes
/// out as one typed outcome that each transport renders (a JSON answer, an ack or error frame).
///
/// The order: who sends it (with a token, the token's name; a message naming someone else is
/// refused), the room the token may publish to, the text's length, the sender's rate; then the
/// put with what the endpoint's ack means (`Acknowledger`).
struct Intake: Sendable {
    /// Why a message was not taken, before it was put.
    enum Refusal: Equatable {
        /// The message names a sender other than its token's.
        case spoofedFrom(claimed: String, token: String)
        /// The token may not publish to the room.
        case forbiddenRoom(user: String, room: String)
        /// The text is over `maxTextLength` (in UTF-8 bytes).
        case textTooLong(bytes: Int, limit: Int)
        /// The sender is over its rate limit: try again after the wait.
        case rateLimited(Duration, RateLimiter.Config)

        /// What the refusal is counted as.
        var counted: InputCount {
            switch self {
            case .spoofedFrom, .textTooLong: .rejected
            case .forbiddenRoom: .forbidden
            case .rateLimited: .rateLimited
            }
        }

        static func == (a: Refusal, b: Refusal) -> Bool {
            switch (a, b) {
            case (.spoofedFrom(let x, let y), .spoofedFrom(let z, let w)): x == z && y == w
            case (.forbiddenRoom(let x, let y), .forbiddenRoom(let z, let w)): x == z && y == w
            case (.textTooLong(let x, let y), .textTooLong(let z, let w)): x == z && y == w
            case (.rateLimited(let x, _), .rateLimited(let z, _)): x == z
            default: false
            }
        }
    }

    let ack: Acknowledger
    let limiter: RateLimiter?
    let maxTextLength: Int
    let defaultRoom: String
    let counts = Tally<InputCount>()

    init(_ context: ComponentContext, defaultRoom: String) {
        ack = Acknowledger(context)
        limiter = RateLimiter.Config.read(context.config).map(RateLimiter.init)
        maxTextLength = MessageInput.maxTextLength(context.config)
        self.defaultRoom = defaultRoom
    }

    /// Checks `fields` sent by `identity` (nil without a token) from `client` (its address):
    /// with a token, `fields.from` becomes the token's name. The refusal, if any, is counted.
    /// `limitRate: false` for an endpoint that limited the sender already, before reading what
    /// it sent (`webhook-in`, ahead of the signature check).
    func admit(_ fields: inout MessageFields, identity: Identity?, client: String, limitRate: Bool = true) -> Refusal? {
        let refusal = check(&fields, identity: identity, client: client, limitRate: limitRate)
        if let refusal { counts.count(refusal.counted) }
        return refusal
    }

    private func check(_ fields: inout MessageFields, identity: Identity?, client: String, limitRate: Bool) -> Refusal? {
        if let identity {
            if let from = fields.from, from != identity.name { return .spoofedFrom(claimed: from, token: identity.name) }
            let room = fields.room ?? defaultRoom
            guard identity.publish.allows(room) else { return .forbiddenRoom(user: identity.name, room: room) }
            fields.from = identity.name
        }
        if case .textTooLong(let n, let limit)? = MessageInput.checkLength(fields.text, limit: maxTextLength) {
            return .textTooLong(bytes: n, limit: limit)
        }
        // Per user (per address without a token).
        if limitRate, let limiter, let wait = limiter.take(identity?.name ?? client) { return .rateLimited(wait, limiter.config) }
        return nil
    }

    /// Puts `message` on `sink` at once if nothing has to wait (ack `accepted` and room on the
    /// channel); nil when the put has to wait (then `put`).
    func offer(_ message: Message, on sink: any MessageSink) -> Acknowledger.Outcome? {
        guard ack.mode == .accepted, let outcome = sink.offer(message) else { return nil }
        counts.count(InputCount(outcome: .put(outcome)))
        return .put(outcome)
    }

    /// Puts `message` on `sink`, waiting up to `wait` for room (and, with ack `stored`, for
    /// the commit); the outcome is counted.
    func put(_ message: Message, on sink: any MessageSink, wait: Duration) async -> Acknowledger.Outcome {
        let outcome = await ack.put(message, on: sink, timeout: wait)
        counts.count(InputCount(outcome: outcome))
        return outcome
    }
}

/// What an input endpoint counts, by outcome: the `counts` of its `inspect` and the `result`
/// label of its metric (`switchboard_publish_requests_total{result=…}` and its siblings).
enum InputCount: String, CaseIterable, Sendable {
    case accepted, stored, dropped, full, closed, notStored
    case rejected, tooLarge, unauthorized, forbidden, rateLimited
    /// webhook-in: a body that is not JSON; a delivery seen before; one being handled; no
    /// secret to check signatures with.
    case malformed, duplicate, inFlight, noSecret
    /// websocket: sessions opened, and ended by a protocol error.
    case connected, errors

    init(outcome: Acknowledger.Outcome) {
        switch outcome {
        case .stored: self = .stored
        case .notStored: self = .notStored
        case .put(.accepted): self = .accepted
        case .put(.dropped): self = .dropped
        case .put(.wouldBlock): self = .full
        case .put(.closed): self = .closed
        }
    }
}

/// Counters by a fixed set of keys, for `inspect`.
final class Tally<Key: RawRepresentable & Hashable & Sendable>: Sendable where Key.RawValue == String {
    private let counts = Mutex<[Key: Int]>([:])

    func count(_ key: Key) { counts.withLock { $0[key, default: 0] += 1 } }

    subscript(_ key: Key) -> Int { counts.withLock { $0[key] ?? 0 } }

    /// `{"accepted": 3, …}`, the keys that were counted, sorted.
    var json: JSONValue {
        let c = counts.withLock { $0 }
        return .object(JSONObject(c.map { ($0.key.rawValue, JSONValue.int($0.value)) }.sorted { $0.0 < $1.0 }))
    }
}

// MARK: - Acknowledging

/// What an input endpoint's ack means (`"ack": "accepted" | "stored"`): on the channel, or
/// committed by the store in its `store` slot. Shared by publish, WebSocket and webhook-in.
struct Acknowledger {
    enum Mode: String {
        case accepted, stored
    }

    /// What became of a message put through the acknowledger.
    enum Outcome: Equatable {
        case put(PutOutcome)
        /// Committed, as this id (a bus may give a message a later id than it was put with).
        case stored(MessageID)
        /// Not on disk; `delivered` says whether it reached subscribers all the same: true when
        /// it was put on the channel and the store is not the way to subscribers, false when it
        /// never went anywhere, nil when nobody can tell (a bus lost its database mid-commit).
        case notStored(CommitFailure, delivered: Bool?)

        /// The id to report for `message`: the one it was stored as, when stored.
        func id(of message: Message) -> MessageID {
            if case .stored(let id) = self { return id }
            return message.id
        }

        /// The word sent back in an ack.
        var status: String {
            switch self {
            case .put(let o): o.rawValue
            case .stored: "stored"
            case .notStored: "notStored"
            }
        }
    }

    let store: Dependency<any MessageStore>?
    let mode: Mode

    init(_ context: ComponentContext) {
        store = context.optionalDependency("store", as: (any MessageStore).self, "the store whose commit a \"stored\" ack waits for")
        let c = context.config
        mode = Mode(rawValue: c.oneOf("ack", ["accepted", "stored"], default: store == nil ? "accepted" : "stored")) ?? .accepted
        if mode == .stored, store == nil {
            c.issue(.invalidValue, "ack", "\"ack\": \"stored\" needs a store: add \"store\" to \"using\"")
        }
    }

    /// Puts `message` on `sink`; with `stored`, waits until the store has committed it, and
    /// does not put it when the store cannot keep it.
    func put(_ message: Message, on sink: any MessageSink, timeout: Duration) async -> Outcome {
        guard mode == .stored, let store = try? store?.get() else {
            if mode == .stored { return .notStored(.notRunning(store?.target ?? "store"), delivered: false) }
            return .put(await sink.put(message, timeout: timeout))
        }
        switch await sink.put(message, timeout: timeout, committedBy: [store]) {
        case .refused(_, let why): return .notStored(why, delivered: false)
        case .put(.accepted, let commits):
            switch commits.first {
            // On the channel all the same, unless the store is the way to subscribers (a bus).
            case .failure(let why)?:
                guard store.deliversFromCommits else { return .notStored(why, delivered: true) }
                if case .outcomeUnknown = why { return .notStored(why, delivered: nil) }
                return .notStored(why, delivered: false)
            case .success(let id)?: return .stored(id)
            case nil: return .stored(message.id)
            }
        case .put(let outcome, _): return .put(outcome)
        }
    }

    /// What a refusal adds about delivery.
    static func deliveredNote(_ delivered: Bool?) -> String {
        switch delivered {
        case true?: " (it was delivered to the chat)"
        case false?: "; not delivered either"
        case nil: "; it may have been delivered all the same (look for its id before sending it again)"
        }
    }

    var json: JSONValue { ["ack": .string(mode.rawValue), "store": store.map { .string($0.target) } ?? .null] }
}
