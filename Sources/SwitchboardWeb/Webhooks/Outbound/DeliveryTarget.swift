import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Switchboard
import SwitchboardChannels
import Synchronization

/// One target's queue, workers and figures.
///
/// Workers take deliveries from the queue (at most `concurrency` at once); a failed attempt
/// that may be retried waits out its delay off the queue, then goes back on it.
final class DeliveryTarget: Sendable {
    struct Figures: Sendable {
        var delivered = 0
        var retrying = 0
        var failed = 0
        var inFlight = 0
        var attempts = 0
        var lastError: String?
        var lastStatus: Int?
    }

    enum Outcome {
        case delivered(Int)
        case retry(String, after: Duration?)
        case fail(String)
    }

    let settings: Mutex<WebhookTarget>
    let queue: Chan<Delivery>
    let figures = Mutex(Figures())
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let retries = Mutex<[UInt64: (Task<Void, Never>, Delivery)]>([:])
    private let retryIDs = Atomic<UInt64>(0)

    init(_ target: WebhookTarget, capacity: Int) {
        settings = Mutex(target)
        queue = Chan(.fixed(capacity))
    }

    var name: String { settings.withLock { $0.name } }

    /// Starts the workers.
    func start(client: HTTPClient, schedule: @escaping @Sendable () -> RetrySchedule, dead: DeadLetters) {
        let n = settings.withLock { $0.concurrency }
        let workers = (0..<n).map { _ in
            Task { [self] in
                for await delivery in queue {
                    await run(delivery, client: client, schedule: schedule(), dead: dead)
                }
            }
        }
        tasks.withLock { $0 = workers }
    }

    /// Stops the workers; what was queued or waiting to retry becomes dead letters.
    func stop(dead: DeadLetters, reason: SetAside) async {
        queue.close()
        let waiting = retries.withLock { r in defer { r.removeAll() }; return Array(r.values) }
        for (task, var d) in waiting {
            task.cancel()
            d.lastError = reason.description + (d.lastError.isEmpty ? "" : " (after: \(d.lastError))")
            d.setAsideBy = reason
            dead.add(d)
        }
        while var d = queue.poll() {
            d.lastError = reason.description
            d.setAsideBy = reason
            dead.add(d)
        }
        for t in tasks.withLock({ $0 }) { await t.value }
        figures.withLock { $0.retrying = 0 }
    }

    private func run(_ delivery: Delivery, client: HTTPClient, schedule: RetrySchedule, dead: DeadLetters) async {
        var d = delivery
        d.attempts += 1
        figures.withLock { $0.inFlight += 1; $0.attempts += 1 }
        let outcome = await attempt(d, client: client)
        figures.withLock { $0.inFlight -= 1 }
        switch outcome {
        case .delivered(let status):
            figures.withLock { $0.delivered += 1; $0.lastStatus = status }
        case .fail(let why):
            d.lastError = why
            figures.withLock { $0.failed += 1; $0.lastError = why }
            dead.add(d)
        case .retry(let why, let retryAfter):
            d.lastError = why
            figures.withLock { $0.lastError = why }
            guard let base = schedule.delay(after: d.attempts - 1) else {
                figures.withLock { $0.failed += 1 }
                dead.add(d)
                return
            }
            let delay = max(base, retryAfter ?? .zero)
            let id = retryIDs.add(1, ordering: .relaxed).newValue
            figures.withLock { $0.retrying += 1 }
            let pending = d
            let task = Task { [self] in
                guard (try? await Task.sleep(for: delay)) != nil else { return }
                guard retries.withLock({ $0.removeValue(forKey: id) }) != nil else { return }
                figures.withLock { $0.retrying -= 1 }
                if await queue.send(pending) != .accepted {
                    var lost = pending
                    lost.lastError = "target removed while waiting to retry (after: \(pending.lastError))"
                    dead.add(lost)
                }
            }
            retries.withLock { $0[id] = (task, pending) }
        }
    }

    /// One signed POST, bounded as a whole by the target's timeout.
    private func attempt(_ d: Delivery, client: HTTPClient) async -> Outcome {
        let target = settings.withLock { $0 }
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "switchboard-webhooks")
        for (k, v) in target.headers { request.headers.replaceOrAdd(name: k, value: v) }
        let id = d.message.id.description
        let timestamp = Int(Date().timeIntervalSince1970)
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        if let secret = target.secret, let signer = try? StandardWebhookSigner(secret: secret) {
            request.headers.add(name: "webhook-signature", value: signer.sign(id: id, timestamp: timestamp, body: d.body))
        }
        request.body = .bytes(ByteBuffer(bytes: d.body))
        let prepared = request
        // AsyncHTTPClient's own timeout covers the response head only: race the whole exchange.
        let result = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                do {
                    let response = try await client.execute(prepared, timeout: .nanoseconds(Int64(target.timeout.milliseconds * 1_000_000)))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    let status = Int(response.status.code)
                    switch status {
                    case 200..<300: return .delivered(status)
                    case 429, 500..<600:
                        // A receiver's Retry-After is capped, never trusted to fit a Duration.
                        let after = response.headers.first(name: "Retry-After").flatMap(Double.init).map { min(max($0, 0), 86_400) }
                            .flatMap { try? Duration.checkedSeconds($0).get() }
                        return .retry("HTTP \(status)", after: after)
                    default: return .fail("HTTP \(status) (not retried)")
                    }
                } catch {
                    return .retry("\(error)", after: nil)
                }
            }
            group.addTask {
                try? await Task.sleep(for: target.timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .retry("timed out after \(target.timeout.short)", after: nil)
        }
        return result
    }

    var json: JSONValue {
        let f = figures.withLock { $0 }
        let s = settings.withLock { $0 }
        return [
            "name": .string(s.name), "url": .string(s.url), "signed": .bool(s.secret != nil), "timeout": .string(s.timeout.short),
            "concurrency": .int(s.concurrency), "queued": .int(queue.stats.count),
            "delivered": .int(f.delivered), "retrying": .int(f.retrying), "failed": .int(f.failed), "inFlight": .int(f.inFlight),
            "attempts": .int(f.attempts), "lastError": f.lastError.map(JSONValue.string) ?? .null,
            "lastStatus": f.lastStatus.map(JSONValue.int) ?? .null,
        ]
    }
}
