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
/// by `webhooks redeliver`. A private message (one with `to`) goes only to targets that say
/// `"private": true`.
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

    /// Everything that changes, under one lock.
    private struct State {
        /// The targets as configured, in order (a start or an update applies them).
        var targets: [WebhookTarget]
        var schedule: RetrySchedule
        var running: Running?
    }

    private struct Running {
        let tap: Tap<Message>
        let client: HTTPClient
        /// Set right after the targets exist, so that no message finds none.
        var pump: Task<Void, Never>?
        /// One delivery queue and its workers per target, by name.
        var targets: [String: DeliveryTarget]
    }

    private let name: String
    private let source: Dependency<any MessageFanout>
    private let config: Config
    private let state: Mutex<State>
    let dead: DeadLetters

    init(_ context: ComponentContext) {
        name = context.name
        source = context.dependency("source", as: (any MessageFanout).self, "the mult whose messages are sent")
        let config = Config(context.config)
        self.config = config
        state = Mutex(State(targets: config.targets, schedule: config.retry, running: nil))
        dead = DeadLetters(limit: config.deadLetters)
    }

    /// The component type.
    public static let type = ComponentType(
        "webhook-out", summary: "POSTs every message of a mult to webhook targets, signed, retried, with dead letters.",
        updatableFields: ["targets", "retry"],
        console: ConsoleTopic(
            "webhooks", usage: "webhooks dead [component] | webhooks redeliver <id|all> [component]",
            summary: "outbound webhook dead letters: list them, send them again", subcommands: ["dead", "redeliver"])
    ) { WebhookOutComponent($0) }

    private var currentSchedule: RetrySchedule { state.withLock { $0.schedule } }

    /// The running delivery targets, in configured order.
    private var runningTargets: [DeliveryTarget] {
        state.withLock { s in s.targets.compactMap { s.running?.targets[$0.name] } }
    }

    // MARK: Lifecycle

    public func start() async throws {
        let tap = try source.get().tap(TapOptions(name: "webhooks:\(name)", policy: config.policy, capacity: config.capacity))
        // A refused connection is one failed attempt: our schedule decides when to try again
        // (AsyncHTTPClient would otherwise keep reconnecting until the request's deadline).
        var settings = HTTPClient.Configuration()
        settings.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
        var running = Running(tap: tap, client: client, pump: nil, targets: [:])
        for target in state.withLock({ $0.targets }) { running.targets[target.name] = makeTarget(target, client: client) }
        state.withLock { $0.running = running }
        let pump = Task { await self.pump(tap) }
        state.withLock { $0.running?.pump = pump }
    }

    public func stop() async throws {
        guard let r = state.withLock({ s in defer { s.running = nil }; return s.running }) else { return }
        r.tap.cancel()
        await r.pump?.value
        for t in r.targets.values { await t.stop(dead: dead, reason: .componentStopped(name)) }
        try? await r.client.shutdown()
    }

    /// A target's queue and workers, started.
    private func makeTarget(_ target: WebhookTarget, client: HTTPClient) -> DeliveryTarget {
        let t = DeliveryTarget(target, capacity: config.queueCapacity)
        t.start(client: client, schedule: { [self] in currentSchedule }, dead: dead)
        return t
    }

    /// Takes messages from the tap and queues one delivery per target. A target whose queue
    /// is full (its receiver is that far behind) gets a dead letter instead, so one slow
    /// target never holds the others.
    private func pump(_ tap: Tap<Message>) async {
        while true {
            let batch = await tap.chan.receive(upTo: 64)
            if batch.isEmpty { return }
            for message in batch where config.room == nil || message.room == config.room {
                let body = Array(message.jsonText().utf8)
                for t in runningTargets where message.to == nil || t.settings.withLock({ $0.receivesPrivate }) {
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
        let (client, current) = state.withLock { s in
            s.schedule = newSchedule
            s.targets = newTargets
            return (s.running?.client, s.running?.targets ?? [:])
        }
        guard let client else { return }
        for (name, t) in current where !newTargets.contains(where: { $0.name == name }) {
            state.withLock { $0.running?.targets[name] = nil }
            await t.stop(dead: dead, reason: .targetRemoved)
        }
        for target in newTargets {
            if let t = current[target.name] {
                let old = t.settings.withLock { s in defer { s = target }; return s }
                if old.concurrency != target.concurrency {
                    state.withLock { $0.running?.targets[target.name] = nil }
                    await t.stop(dead: dead, reason: .targetRestarted)
                    let fresh = makeTarget(target, client: client)
                    state.withLock { $0.running?.targets[target.name] = fresh }
                    // What it had in hand goes to its replacement; earlier dead letters stay.
                    for d in dead.take(where: { $0.target == target.name && $0.setAsideBy == .targetRestarted }) {
                        var d = d
                        d.setAsideBy = nil
                        await redeliver(d)
                    }
                }
            } else {
                let fresh = makeTarget(target, client: client)
                state.withLock { $0.running?.targets[target.name] = fresh }
            }
        }
    }

    private func redeliver(_ d: Delivery) async {
        var again = d
        again.attempts = 0
        guard let t = state.withLock({ $0.running?.targets[d.target] }) else {
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
            guard words.count == 2 else { throw ConsoleCommandError(.usage, "") }
            let id = words[1] == "all" ? nil : words[1]
            guard state.withLock({ $0.running != nil }) else { throw ConsoleCommandError(.notRunning, "\(name) is not running: start it first") }
            let letters = dead.take(id)
            if letters.isEmpty, let id { throw ConsoleCommandError(.badInput, "no dead letter with id \(id)") }
            for d in letters { await redeliver(d) }
            return ("requeued \(letters.count) deliver\(letters.count == 1 ? "y" : "ies")", ["requeued": .int(letters.count)])
        default:
            throw ConsoleCommandError(.usage, "")
        }
    }

    // MARK: Figures

    public func inspect() async -> JSONValue {
        let (all, schedule, tap) = state.withLock { s in (s.targets.compactMap { s.running?.targets[$0.name] }, s.schedule, s.running?.tap) }
        var f = JSONObject()
        f["targets"] = .array(all.map(\.json))
        f["deadLetters"] = .int(dead.count)
        f["deadLettersEvicted"] = .int(dead.evicted)
        f["retrySchedule"] = .array(schedule.delays.map { .string($0.short) })
        if let tap { f["tap"] = tap.json }
        let totals = all.map { $0.figures.withLock { $0 } }
        f["delivered"] = .int(totals.map(\.delivered).reduce(0, +))
        f["retrying"] = .int(totals.map(\.retrying).reduce(0, +))
        f["failed"] = .int(totals.map(\.failed).reduce(0, +))
        f["inFlight"] = .int(totals.map(\.inFlight).reduce(0, +))
        f["attempts"] = .int(totals.map(\.attempts).reduce(0, +))
        f["queued"] = .int(all.map(\.queue.stats.count).reduce(0, +))
        return .object(f)
    }
}
