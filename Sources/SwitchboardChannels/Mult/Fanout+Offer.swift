extension Fanout {
    /// Offers `item` to every tap without waiting (for taps whose policy never waits, such
    /// as console tails); a full `block` or `disconnect` tap is disconnected.
    public func offerAll(_ item: Element) {
        for tap in snapshot {
            switch tap.chan.offer(item) {
            case .accepted, .dropped, .closed: continue
            case .wouldBlock: tap.disconnect(lost: 1)
            }
        }
    }
}

extension Chan {
    /// Sends `item`, waiting at most `timeout` for room; `nil` when the time ran out (the
    /// item was not accepted).
    public func send(_ item: Element, timeout: Duration) async -> SendResult? {
        switch offer(item) {
        case .accepted: return .accepted
        case .dropped: return .dropped
        case .closed: return .closed
        case .wouldBlock: break
        }
        guard timeout > .zero else { return nil }
        return await withTaskGroup(of: SendResult?.self) { group in
            group.addTask { await self.send(item) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if let first { return first }
            // The timer won; the send was cancelled unless it completed in the meantime.
            let send = await group.next() ?? nil
            return send == .cancelled ? nil : send
        }
    }
}
