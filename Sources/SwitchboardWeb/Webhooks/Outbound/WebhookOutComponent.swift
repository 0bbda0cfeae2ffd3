import AsyncHTTPClient
import Foundation
import Switchboard
import SwitchboardChannels
import Synchronization

/// The `webhook-out` component: every message of a mult, POSTed as JSON to every target,
/// signed the Standard Webhooks way (`webhook-id` = the message id), retried with backoff.
///
/// It reads through a tap of its own (buffer and policy), so a slow or dead receiver never
/// slows the other subscribers. Deliveries that run out of attempts, or get a 4xx other than
/// 429, become dead letters: kept (bounded), shown by `inspect` and `webhooks dead`, sent again
/// by `webhooks redeliver`.
///
/// ```json
/// "notify": { "type": "webhook-out", "using": { "source": "fanout" },
///             "targets": [ { "url": "https://example.org/hook", "secret": {"$env": "OUT_SECRET"} } ] }
/// ```
public final class WebhookOutComponent: ConsoleCommands {
    struct Config {
        var targets: [WebhookTarget]
        var retry: RetrySchedule
        var policy: TapPolicy
        var capacity: Int
        var queueCapacity: Int
        var deadLetters: Int
        var room: String?

        init(_ c: ConfigReader) {
            (targets, retry) = Self.updatable(c)
            let b = c.object("buffer")
            policy = b?.tapPolicy(default: .dropOldest) ?? .dropOldest
            capacity = b?.int("capacity", default: 10_000, in: 1...10_000_000) ?? 10_000
            queueCapacity = c.int("queueCapacity", default: 1024, in: 1...1_000_000)
            deadLetters = c.int("deadLetters", default: 1000, in: 1...1_000_000)
            room = c.string("room")
        }

        static func updatable(_ c: ConfigReader) -> ([WebhookTarget], RetrySchedule) {
            (WebhookTarget.read(c), RetrySchedule.read(c))
        }
    }

    private struct Running {
        let tap: Tap<Message>
        let client: HTTPClient
        let pump: Task<Void, Never>
    }

    private let name: String
    private let source: Dependency<any MessageFanout>
    private let config: Config
    private let schedule: Mutex<RetrySchedule>
    private let targets = Mutex<[String: DeliveryTarget]>([:])
    private let targetOrder = Mutex<[String]>([])
    private let pending = Mutex<[WebhookTarget]>([])
    private let running = Mutex<Running?>(nil)
    let dead: DeadLetters

    init(_ context: ComponentContext) {
        name = context.name
        source = context.dependency("source", as: (any MessageFanout).self, "the mult whose messages are sent")
        let config = Config(context.config)
        self.config = config
        schedule = Mutex(config.retry)
        dead = DeadLetters(limit: config.deadLetters)
        pending.withLock { $0 = config.targets }
    }

    /// The component type.
    public static let type = ComponentType(
        "webhook-out", summary: "POSTs every message of a mult to webhook targets, signed, retried, with dead letters.",
        updatableFields: ["targets", "retry"],
        console: ConsoleTopic(
            "webhooks", usage: "webhooks dead [component] | webhooks redeliver <id|all> [component]",
            summary: "outbound webhook dead letters: list them, send them again", subcommands: ["dead", "redeliver"])
    ) { WebhookOutComponent($0) }

    private var currentSchedule: RetrySchedule { schedule.withLock { $0 } }

    // MARK: Lifecycle

    public func start() async throws {
        let tap = try source.get().tap(TapOptions(name: "webhooks:\(name)", policy: config.policy, capacity: config.capacity))
        // A refused connection is one failed attempt: our schedule decides when to try again
        // (AsyncHTTPClient would otherwise keep reconnecting until the request's deadline).
        var settings = HTTPClient.Configuration()
        settings.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
        for t in pending.withLock({ $0 }) { add(t, client: client) }
        let pump = Task { await self.pump(tap) }
        running.withLock { $0 = Running(tap: tap, client: client, pump: pump) }
    }

    public func stop() async throws {
        guard let r = running.take() else { return }
        r.tap.cancel()
        await r.pump.value
        let all = targets.withLock { t in defer { t.removeAll() }; return Array(t.values) }
        for t in all { await t.stop(dead: dead, reason: .componentStopped(name)) }
        try? await r.client.shutdown()
    }

    private func add(_ target: WebhookTarget, client: HTTPClient) {
        let t = DeliveryTarget(target, capacity: config.queueCapacity)
        targets.withLock { $0[target.name] = t }
        targetOrder.withLock { order in if !order.contains(target.name) { order.append(target.name) } }
        t.start(client: client, schedule: { [self] in currentSchedule }, dead: dead)
    }

    /// Takes messages from the tap and queues one delivery per target. A target whose queue
    /// is full (its receiver is that far behind) gets a dead letter instead, so one slow
    /// target never holds the others.
    private func pump(_ tap: Tap<Message>) async {
        while true {
            let batch = await tap.chan.receive(upTo: 64)
            if batch.isEmpty { return }
            for message in batch where config.room == nil || message.room == config.room {
                let body = Array(message.json.jsonText.utf8)
                for t in targets.withLock({ Array($0.values) }) {
                    var delivery = Delivery(message: message, body: body, target: t.name)
                    if t.queue.offer(delivery) != .accepted {
                        delivery.lastError = "not attempted: the target's queue was full (its receiver is too slow)"
                        t.figures.withLock { $0.failed += 1 }
                        dead.add(delivery)
                    }
                }
            }
        }
    }

    /// Targets and the retry schedule change without a restart: new targets start, removed
    /// ones stop (their pending deliveries become dead letters), changed ones take effect on
    /// their next attempt (a new concurrency restarts that target's workers).
    public func update(_ c: ConfigReader) async throws {
        let (newTargets, newSchedule) = Config.updatable(c)
        try c.throwIssues()
        schedule.withLock { $0 = newSchedule }
        pending.withLock { $0 = newTargets }
        guard let client = running.withLock({ $0?.client }) else { return }
        let current = targets.withLock { $0 }
        for (name, t) in current where !newTargets.contains(where: { $0.name == name }) {
            targets.withLock { $0[name] = nil }
            await t.stop(dead: dead, reason: .targetRemoved)
        }
        for target in newTargets {
            if let t = current[target.name] {
                let old = t.settings.withLock { s in defer { s = target }; return s }
                if old.concurrency != target.concurrency {
                    targets.withLock { $0[target.name] = nil }
                    await t.stop(dead: dead, reason: .targetRestarted)
                    add(target, client: client)
                    // What it had in hand goes to its replacement; earlier dead letters stay.
                    for d in dead.take(where: { $0.target == target.name && $0.setAsideBy == .targetRestarted }) {
                        var d = d
                        d.setAsideBy = nil
                        await redeliver(d)
                    }
                }
            } else {
                add(target, client: client)
            }
        }
        targetOrder.withLock { $0 = newTargets.map(\.name) }
    }

    private func redeliver(_ d: Delivery) async {
        var again = d
        again.attempts = 0
        guard let t = targets.withLock({ $0[d.target] }) else {
            again.lastError = "target \(d.target) no longer exists"
            dead.add(again)
            return
        }
        await t.queue.send(again)
    }

    // MARK: Console

    public func console(_ words: [String]) async throws -> (text: String, data: JSONValue) {
        switch words.first {
        case "dead":
            let letters = dead.all
            let lines = letters.map { l in
                "\(l.delivery.message.id) → \(l.delivery.target) after \(l.delivery.attempts) attempt(s): \(l.delivery.lastError)  [\(LifecycleEvent.timestamp(l.at))]"
            }
            return ((lines.isEmpty ? "no dead letters" : lines.joined(separator: "\n")) + (dead.evicted > 0 ? "\n(\(dead.evicted) older ones evicted)" : ""),
                    .array(letters.map(\.delivery.json)))
        case "redeliver":
            guard words.count == 2 else { throw ConsoleUsage(text: "usage: webhooks redeliver <id|all> [component]") }
            let id = words[1] == "all" ? nil : words[1]
            guard running.withLock({ $0 != nil }) else { throw ConsoleUsage(text: "\(name) is not running: start it first") }
            let letters = dead.take(id)
            if letters.isEmpty, let id { throw ConsoleUsage(text: "no dead letter with id \(id)") }
            for d in letters { await redeliver(d) }
            return ("requeued \(letters.count) deliver\(letters.count == 1 ? "y" : "ies")", ["requeued": .int(letters.count)])
        default:
            throw ConsoleUsage(text: "usage: webhooks dead [component] | webhooks redeliver <id|all> [component]")
        }
    }

    // MARK: Figures

    public func inspect() async -> JSONValue {
        let order = targetOrder.withLock { $0 }
        let all = targets.withLock { $0 }
        var f = JSONObject()
        f["targets"] = .array(order.compactMap { all[$0]?.json })
        f["deadLetters"] = .int(dead.count)
        f["deadLettersEvicted"] = .int(dead.evicted)
        f["retrySchedule"] = .array(schedule.withLock { $0 }.delays.map { .string($0.short) })
        if let tap = running.withLock({ $0?.tap }) { f["tap"] = tap.json }
        let totals = all.values.map { $0.figures.withLock { $0 } }
        f["delivered"] = .int(totals.map(\.delivered).reduce(0, +))
        f["retrying"] = .int(totals.map(\.retrying).reduce(0, +))
        f["failed"] = .int(totals.map(\.failed).reduce(0, +))
        return .object(f)
    }
}

/// A console command used wrongly; the text is the answer.
struct ConsoleUsage: Error, CustomStringConvertible {
    let text: String
    var description: String { text }
}
