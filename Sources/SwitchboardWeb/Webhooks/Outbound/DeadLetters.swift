import DequeModule
import Foundation
import Switchboard
import SwitchboardChannels
import Synchronization

/// A delivery to one target: the message, encoded once, and how it has gone so far.
struct Delivery: Sendable {
    let message: Message
    let body: [UInt8]
    let target: String
    var attempts: Int = 0
    var lastError: String = ""
    /// Why its target stopped while it was queued or waiting to retry, if it did.
    var setAsideBy: SetAside?

    var json: JSONValue {
        ["id": .string(message.id.description), "target": .string(target), "attempts": .int(attempts),
         "lastError": .string(lastError), "text": .string(message.text)]
    }
}

/// Why a target stopped with deliveries in hand.
enum SetAside: Sendable, Equatable, CustomStringConvertible {
    /// A reload changed how it delivers: the replacement sends them again.
    case targetRestarted
    /// A reload removed it: they stay dead letters.
    case targetRemoved
    /// The webhook-out component (named) stopped.
    case componentStopped(String)

    var description: String {
        switch self {
        case .targetRestarted: "target restarted"
        case .targetRemoved: "target removed"
        case .componentStopped(let name): "not delivered: \(name) stopped"
        }
    }
}

/// Deliveries that ran out of attempts (or could not be made): kept, bounded, visible,
/// and sent again on request.
final class DeadLetters: Sendable {
    struct Letter: Sendable {
        let delivery: Delivery
        let at: Date
    }

    private let letters = Mutex<(items: Deque<Letter>, evicted: Int)>(([], 0))
    let limit: Int

    init(limit: Int) { self.limit = max(1, limit) }

    func add(_ d: Delivery) {
        letters.withLock { l in
            l.items.append(Letter(delivery: d, at: Date()))
            while l.items.count > limit { l.items.removeFirst(); l.evicted += 1 }
        }
    }

    /// Takes out the letters for message `id` (or all, when nil).
    func take(_ id: String?) -> [Delivery] {
        take { id == nil || $0.message.id.description == id }
    }

    /// Takes out the letters that `match`; the others stay.
    func take(where match: (Delivery) -> Bool) -> [Delivery] {
        letters.withLock { l in
            let taken = l.items.filter { match($0.delivery) }
            l.items = Deque(l.items.filter { !match($0.delivery) })
            return taken.map(\.delivery)
        }
    }

    var all: [Letter] { letters.withLock { Array($0.items) } }
    var count: Int { letters.withLock { $0.items.count } }
    var evicted: Int { letters.withLock { $0.evicted } }
}
