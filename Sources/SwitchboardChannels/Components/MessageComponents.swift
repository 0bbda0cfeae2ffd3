import Switchboard

/// A component that accepts messages: the target of `publish`, WebSocket input, webhooks and
/// the console's `put!`.
public protocol MessageSink: Component {
    /// Puts `message`, waiting at most `timeout` for room (zero: not at all).
    func put(_ message: Message, timeout: Duration) async -> PutOutcome

    /// Puts `message` if that needs no waiting: the outcome, or `nil` when only `put` can
    /// tell (no room now, or a sink that always waits). What the outcome means is `put`'s.
    func offer(_ message: Message) -> PutOutcome?
}

extension MessageSink {
    /// A sink that cannot tell without waiting: callers `put`.
    public func offer(_ message: Message) -> PutOutcome? { nil }
}

/// What became of a `put`.
public enum PutOutcome: String, Sendable, Equatable {
    /// The message entered the channel.
    case accepted
    /// The buffer's policy dropped it (counted).
    case dropped
    /// No room within the time allowed: not accepted.
    case wouldBlock
    /// The channel is not running (stopped or closed): not accepted.
    case closed
}

/// A channel component whose items a mult or pub takes.
public protocol MessageChannel: MessageSink {
    /// The running channel; throws when the component is not running.
    func currentChan() throws -> Chan<Message>
}

/// Options for a tap; `nil` fields take the source's defaults.
public struct TapOptions: Sendable {
    /// A label for the console.
    public var name: String
    /// The slow-consumer policy.
    public var policy: TapPolicy?
    /// The tap's buffer size.
    public var capacity: Int?
    /// For a pub: the topic (room) to subscribe to; `*` for every message whatever its topic.
    public var topic: String?

    /// Options with the given fields.
    public init(name: String, policy: TapPolicy? = nil, capacity: Int? = nil, topic: String? = nil) {
        self.name = name
        self.policy = policy
        self.capacity = capacity
        self.topic = topic
    }
}

/// A component that fans messages out to taps: a mult or a pub. SSE, WebSocket and outbound
/// webhooks take their messages from one.
public protocol MessageFanout: Component {
    /// Adds a tap; throws when the component is not running.
    func tap(_ options: TapOptions) throws -> Tap<Message>
}

/// A fan-out that can also run a consumer inside its own loop, saving that consumer a task
/// hand-over per batch (the SSE endpoint uses it for latency).
public protocol MessageListening: MessageFanout {
    /// Calls `deliver` with every batch and `end` when the fan-out stops; returns the call that
    /// removes the listener. Throws when not running.
    func listen(_ deliver: @escaping @Sendable ([Message]) async -> Void, end: @escaping @Sendable () -> Void) throws -> @Sendable () -> Void
}

/// A component that clients stay connected to (an SSE or WebSocket endpoint): a bus reports
/// the sum in its instance's heartbeat.
public protocol ClientCounting: Component {
    /// Clients connected now.
    var connectedClients: Int { get }
}

/// Shares who is connected between the instances of a system (a bus does): a `presence`
/// component tells it its own users per room and hears the other live instances' users.
public protocol PresenceSharing: Component {
    /// This instance's users in `room` are now `users` (empty: nobody here).
    func sharePresence(room: String, users: Set<String>)
    /// Calls `remote` with the other live instances' users, per room, now and whenever that
    /// changes; returns the call that stops it.
    func followPresence(_ remote: @escaping @Sendable ([String: Set<String>]) -> Void) -> @Sendable () -> Void
}

/// A component whose messages can be watched without slowing it (the console's `tail`).
public protocol MessageTailable: Component {
    /// A drop-oldest tap on everything passing through; cancel it to stop watching.
    func tail(capacity: Int) throws -> Tap<Message>
}

/// The component is not running, so it cannot hand out taps or take messages.
public struct NotRunning: Error, CustomStringConvertible {
    /// The component's name.
    public let component: String
    /// An error about `component`.
    public init(_ component: String) { self.component = component }
    public var description: String { "\"\(component)\" is not running" }
}
