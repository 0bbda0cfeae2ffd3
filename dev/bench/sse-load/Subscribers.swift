import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Monotonic nanoseconds, comparable across processes on this machine.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// What the subscribers of one scenario saw. Touched only on the client's single event loop,
/// except the atomics, which the publisher reads.
final class RunState: @unchecked Sendable {
    let run: Int
    let messages: Int
    let subscribers: Int
    var perMessage: [Int32]
    var latencies: [UInt64] = []
    var recordLatency = true
    var duplicates = 0
    var deliveries = 0
    let completed = Atomic<Int>(0)
    let connected = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let received = Atomic<Int>(0)
    private let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])

    init(run: Int, messages: Int, subscribers: Int) {
        self.run = run
        self.messages = messages
        self.subscribers = subscribers
        perMessage = Array(repeating: 0, count: messages)
        latencies.reserveCapacity(min(messages * subscribers, 4_000_000))
    }

    /// One subscriber got message `seq` published at `sentAt`.
    func delivered(seq: Int, sentAt: UInt64, seen: inout [UInt64]) {
        guard seq >= 0, seq < messages else { return }
        let word = seq >> 6, bit = UInt64(1) << UInt64(seq & 63)
        if seen[word] & bit != 0 { duplicates += 1; return }
        seen[word] |= bit
        deliveries += 1
        received.add(1, ordering: .relaxed)
        if recordLatency { latencies.append(monotonicNanos() &- sentAt) }
        perMessage[seq] += 1
        if perMessage[seq] == Int32(subscribers) {
            completed.add(1, ordering: .relaxed)
            wake()
        }
    }

    func wake() {
        let w = waiters.withLock { w in defer { w.removeAll() }; return w }
        w.forEach { $0.resume() }
    }

    /// Waits until `condition` holds, re-checking whenever a message completes.
    func wait(until condition: @escaping @Sendable () -> Bool) async {
        while !condition() {
            await withCheckedContinuation { c in
                let now = waiters.withLock { w -> Bool in
                    if condition() { return true }
                    w.append(c)
                    return false
                }
                if now { c.resume() }
            }
        }
    }
}

/// One SSE subscriber on a raw TCP connection: sends the GET, then scans the stream for
/// `run=R seq=N t=T` tokens, whatever the framing (chunked encoding, JSON or raw data).
final class SubscriberHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let state: RunState
    let request: ByteBuffer
    var seen: [UInt64]
    var headersDone = false
    var carry: [UInt8] = []
    let token: [UInt8]

    /// Whether this subscriber is a WebSocket (an upgrade request; `101` counts as connected).
    let webSocket: Bool

    init(state: RunState, host: String, path: String, bearer: String? = nil, webSocket: Bool = false) {
        self.state = state
        self.webSocket = webSocket
        let auth = bearer.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        let accept = webSocket
            ? "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            : "Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
        request = ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: \(host)\r\n\(accept)\(auth)\r\n")
        seen = Array(repeating: 0, count: (state.messages + 63) / 64)
        token = Array("run=\(state.run) seq=".utf8)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(request), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        var bytes = carry
        bytes.append(contentsOf: buffer.readableBytesView)
        if !headersDone {
            guard let end = find([13, 10, 13, 10], in: bytes, from: 0) else { carry = bytes; return }
            headersDone = true
            if bytes.starts(with: Array((webSocket ? "HTTP/1.1 101" : "HTTP/1.1 200").utf8)) { state.connected.add(1, ordering: .relaxed) } else { state.failed.add(1, ordering: .relaxed) }
            bytes.removeFirst(end + 4)
        }
        var i = 0
        var consumedUpTo = 0
        while let at = find(token, in: bytes, from: i) {
            var j = at + token.count
            var seq = 0
            while j < bytes.count, bytes[j] >= 48, bytes[j] <= 57 { seq = seq * 10 + Int(bytes[j] - 48); j += 1 }
            // " t=" then digits, then a non-digit: an incomplete token waits for more bytes.
            guard j + 3 < bytes.count else { break }
            guard bytes[j] == 32, bytes[j + 1] == 116, bytes[j + 2] == 61 else { i = at + 1; consumedUpTo = i; continue }
            j += 3
            var t: UInt64 = 0
            while j < bytes.count, bytes[j] >= 48, bytes[j] <= 57 { t = t * 10 + UInt64(bytes[j] - 48); j += 1 }
            guard j < bytes.count else { break }
            state.delivered(seq: seq, sentAt: t, seen: &seen)
            i = j
            consumedUpTo = j
        }
        // Keep only a tail that may hold the start of a token cut by the read boundary.
        let keepFrom = max(consumedUpTo, bytes.count - 64)
        carry = keepFrom < bytes.count ? Array(bytes[keepFrom...]) : []
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func find(_ needle: [UInt8], in hay: [UInt8], from start: Int) -> Int? {
        guard needle.count <= hay.count else { return nil }
        var i = start
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == needle[0] {
                var k = 1
                while k < needle.count, hay[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}

/// Opens `count` subscribers on `group` (one event loop), a batch at a time.
func connectSubscribers(_ count: Int, state: RunState, group: any EventLoopGroup, host: String, port: Int, path: String, bearer: String? = nil,
                        webSocket: Bool = false) async throws -> [any Channel] {
    var channels: [any Channel] = []
    channels.reserveCapacity(count)
    var remaining = count
    while remaining > 0 {
        let batch = min(200, remaining)
        let futures = (0..<batch).map { _ in
            ClientBootstrap(group: group)
                .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(SubscriberHandler(state: state, host: host, path: path, bearer: bearer, webSocket: webSocket))
                    }
                }
                .connect(host: host, port: port)
        }
        for f in futures { channels.append(try await f.get()) }
        remaining -= batch
        let target = count - remaining
        while state.connected.load(ordering: .relaxed) + state.failed.load(ordering: .relaxed) < target {
            try await Task.sleep(for: .milliseconds(2))
        }
    }
    return channels
}
