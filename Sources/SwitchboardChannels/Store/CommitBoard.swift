import Switchboard
import Synchronization

/// A wait for one message's commit, handed out by `MessageStore.expectCommit(of:)`.
public final class CommitTicket: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Result<MessageID, CommitFailure>, Never>?)
        case done(Result<MessageID, CommitFailure>)
    }

    /// The message waited for.
    public let id: MessageID
    let deadline: ContinuousClock.Instant
    private let state = Mutex<State>(.waiting(nil))
    private let onCancel: @Sendable (MessageID) -> Void

    init(id: MessageID, deadline: ContinuousClock.Instant, onCancel: @escaping @Sendable (MessageID) -> Void) {
        self.id = id
        self.deadline = deadline
        self.onCancel = onCancel
    }

    /// A ticket that is already settled (the store is not running, say).
    package static func settled(_ id: MessageID, _ result: Result<MessageID, CommitFailure>) -> CommitTicket {
        let t = CommitTicket(id: id, deadline: .now, onCancel: { _ in })
        t.settle(result)
        return t
    }

    /// Why the message cannot be stored, when that is known before it is even put (the store
    /// is failed or not running): the caller should not put it.
    public var refusal: CommitFailure? {
        state.withLock { s in
            if case .done(.failure(let f)) = s { return f }
            return nil
        }
    }

    /// Waits until the message is committed (or cannot be). The success value is the id it was
    /// stored as: its own, except on a bus, which may give it a later one so that ids follow
    /// the shared log's order.
    public func wait() async -> Result<MessageID, CommitFailure> {
        await withCheckedContinuation { c in
            let now = state.withLock { s -> Result<MessageID, CommitFailure>? in
                switch s {
                case .done(let r): return r
                case .waiting: s = .waiting(c); return nil
                }
            }
            if let now { c.resume(returning: now) }
        }
    }

    /// Gives up the wait (the put did not happen).
    public func cancel() {
        onCancel(id)
        settle(.failure(.notRunning("cancelled")))
    }

    /// Settles the ticket once; later calls are ignored.
    func settle(_ result: Result<MessageID, CommitFailure>) {
        let waiter = state.withLock { s -> CheckedContinuation<Result<MessageID, CommitFailure>, Never>?? in
            guard case .waiting(let c) = s else { return nil }
            s = .done(result)
            return .some(c)
        }
        if case .some(let c?) = waiter { c.resume(returning: result) }
    }
}

/// The tickets a store has handed out, settled as batches commit or fail. Tickets past their
/// deadline are settled as timed out by `sweep`.
package final class CommitBoard: Sendable {
    private let tickets = Mutex<[MessageID: CommitTicket]>([:])
    private let timeout: Duration

    package init(timeout: Duration) {
        self.timeout = timeout
    }

    /// A ticket for `id`.
    package func expect(_ id: MessageID) -> CommitTicket {
        let ticket = CommitTicket(id: id, deadline: .now + timeout) { [weak self] id in
            _ = self?.tickets.withLock { $0.removeValue(forKey: id) }
        }
        tickets.withLock { $0[id] = ticket }
        return ticket
    }

    /// Tickets waiting now.
    package var waiting: Int { tickets.withLock { $0.count } }

    /// Settles the tickets of `ids` as committed under their own ids.
    package func committed(_ ids: some Sequence<MessageID>) {
        committed(ids.lazy.map { ($0, $0) })
    }

    /// Settles the tickets of the first ids of `pairs` as committed under the second.
    package func committed(_ pairs: some Sequence<(MessageID, MessageID)>) {
        let found = tickets.withLock { t in
            t.isEmpty ? [] : pairs.compactMap { pair in t.removeValue(forKey: pair.0).map { ($0, pair.1) } }
        }
        for (ticket, id) in found { ticket.settle(.success(id)) }
    }

    /// Settles the tickets of `ids` with `failure`.
    package func failed(_ ids: some Sequence<MessageID>, _ failure: CommitFailure) {
        let found = tickets.withLock { t in
            t.isEmpty ? [] : ids.compactMap { t.removeValue(forKey: $0) }
        }
        for ticket in found { ticket.settle(.failure(failure)) }
    }

    /// Settles every ticket with `failure`.
    package func failAll(_ failure: CommitFailure) {
        let all = tickets.withLock { t in defer { t.removeAll() }; return Array(t.values) }
        for ticket in all { ticket.settle(.failure(failure)) }
    }

    /// Settles the tickets whose deadline has passed as timed out.
    package func sweep(now: ContinuousClock.Instant = .now) {
        let late = tickets.withLock { t -> [CommitTicket] in
            let late = t.values.filter { $0.deadline <= now }
            for ticket in late { t.removeValue(forKey: ticket.id) }
            return late
        }
        for ticket in late { ticket.settle(.failure(.timedOut(timeout))) }
    }
}
