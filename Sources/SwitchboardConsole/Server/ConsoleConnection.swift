import Foundation
import NIOCore
import Switchboard
import Synchronization

/// The input side of one console: splits lines, gathers heredocs, runs one command at a time,
/// cancels it on `.cancel`, and detaches an idle console.
final class ConsoleConnection: Sendable {
    let session: ConsoleSession
    let out: FrameWriter
    let idleTimeout: Duration
    private let running = Mutex<Task<Frame, Never>?>(nil)
    private let lastActivity = Mutex(ContinuousClock.now)

    init(session: ConsoleSession, out: FrameWriter, idleTimeout: Duration) {
        self.session = session
        self.out = out
        self.idleTimeout = idleTimeout
    }

    func run(_ inbound: AsyncStream<ByteBuffer>) async {
        let (lines, feed) = AsyncStream.makeStream(of: String.self)
        await withTaskGroup(of: Void.self) { group in
            // Reader: bytes → lines; `.cancel` acts at once, even while a command runs.
            group.addTask {
                var pending: [UInt8] = []
                for await buffer in inbound {
                    pending.append(contentsOf: buffer.readableBytesView)
                    while let nl = pending.firstIndex(of: 10) {
                        var line = String(decoding: pending[..<nl], as: UTF8.self)
                        if line.hasSuffix("\r") { line.removeLast() }
                        pending.removeFirst(nl + 1)
                        self.touch()
                        if line.trimmingSpaces() == ".cancel" {
                            self.running.withLock { $0?.cancel() }
                        } else {
                            feed.yield(line)
                        }
                    }
                    if pending.count > 1 << 20 { break }  // a line over 1 MiB: drop the console
                }
                // The console hung up: nothing more will come, and nobody reads a running tail.
                self.running.withLock { $0?.cancel() }
                feed.finish()
            }
            // Watchdog: an idle console is detached.
            group.addTask {
                while !Task.isCancelled {
                    let idle = ContinuousClock.now - self.lastActivity.withLock { $0 }
                    let busy = self.running.withLock { $0 != nil }
                    if idle >= self.idleTimeout, !busy {
                        await self.out.send(.event(text: "idle for \(self.idleTimeout.short): detached", data: ["reason": "idleTimeout"]))
                        feed.finish()
                        self.out.finish()
                        return
                    }
                    try? await Task.sleep(for: min(self.idleTimeout - idle, .seconds(5)) + .milliseconds(1))
                }
            }
            // Commands, one at a time; when they end, so does the console.
            do {
                var iterator = lines.makeAsyncIterator()
                while let command = await CommandLineParser.command({ await iterator.next() }) {
                    let out = self.out
                    let task = Task { await self.session.run(command) { frame in await out.send(frame) } }
                    self.running.withLock { $0 = task }
                    var reply = await task.value
                    self.running.withLock { $0 = nil }
                    self.touch()
                    // Every reply carries the system's state, for the prompt.
                    if case .object(var o) = reply.payload {
                        o["state"] = .string(await self.session.host.map.systemState.rawValue)
                        reply = Frame(.reply, .object(o))
                    }
                    await out.send(reply)
                    // The reply is written and flushed: now the process may end.
                    if self.session.wantsShutdown { await self.session.host.shutdown() }
                    if self.session.wantsDetach { break }
                }
                self.out.finish()
            }
            group.cancelAll()
        }
    }

    private func touch() {
        lastActivity.withLock { $0 = .now }
    }
}
