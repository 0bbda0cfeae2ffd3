import Switchboard
import SwitchboardChannels

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
