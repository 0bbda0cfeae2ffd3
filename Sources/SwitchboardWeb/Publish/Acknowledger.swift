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
        /// Not on disk; `delivered` when it is on the channel all the same (its commit failed).
        case notStored(CommitFailure, delivered: Bool)

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
            case .failure(let why)?: return .notStored(why, delivered: true)
            case .success(let id)?: return .stored(id)
            case nil: return .stored(message.id)
            }
        case .put(let outcome, _): return .put(outcome)
        }
    }

    var json: JSONValue { ["ack": .string(mode.rawValue), "store": store.map { .string($0.target) } ?? .null] }
}
