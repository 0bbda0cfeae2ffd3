import DequeModule
import NIOCore
import Switchboard

/// A session's inbound messages, handled one at a time in the order they came, by a task that
/// exists only while there is something to handle: an idle session holds no task.
///
/// Past `pauseAt` messages waiting, the connection stops reading until they are handled, so a
/// client that sends faster than its messages are taken is held back by TCP, not by memory.
///
/// - Important: `enqueue` is called on the connection's event loop; the queue's state lives there.
final class InboundQueue: @unchecked Sendable {
    private let channel: any Channel
    private let pauseAt: Int
    private let handle: @Sendable (WSInbound) async -> Void
    private var waiting = Deque<WSInbound>()
    private var running = false
    private var paused = false
    private var drained: [() -> Void] = []

    init(channel: any Channel, pauseAt: Int = 64, handle: @escaping @Sendable (WSInbound) async -> Void) {
        self.channel = channel
        self.pauseAt = pauseAt
        self.handle = handle
    }

    /// Queues `message`; starts the task that handles the queue if it is not running.
    func enqueue(_ message: WSInbound) {
        channel.eventLoop.assertInEventLoop()
        waiting.append(message)
        if waiting.count >= pauseAt, !paused {
            paused = true
            try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        }
        guard !running else { return }
        running = true
        Task(executorPreference: TaskPlacement.executor) { [self] in await drain() }
    }

    /// Runs `body` on the loop once every message queued so far has been handled (and what the
    /// handler sent on the loop has gone before it).
    func whenDrained(_ body: @escaping () -> Void) {
        channel.eventLoop.assertInEventLoop()
        if running { drained.append(body) } else { body() }
    }

    private func drain() async {
        while let next = await take() { await handle(next) }
    }

    /// The next message, or nil when the queue is empty (the task then ends, and reading
    /// resumes if it was paused).
    private func take() async -> WSInbound? {
        let loop = channel.eventLoop
        if loop.inEventLoop { return takeOnLoop() }
        return try? await loop.submit { self.takeOnLoop() }.get()
    }

    private func takeOnLoop() -> WSInbound? {
        if let next = waiting.popFirst() { return next }
        running = false
        if paused {
            paused = false
            try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        }
        // Queued behind what the handler sent from the loop just now.
        let waiting = drained
        drained = []
        for body in waiting { channel.eventLoop.assumeIsolated().execute(body) }
        return nil
    }
}
