import Switchboard
import SwitchboardChannels
import Synchronization

/// Counts the words of every message a mult (or pub) sends, per room, through a tap of its
/// own: the figures show in `status`/`inspect` and `/metrics`, and the console's `words`
/// command lists the top ones.
///
/// ```json
/// "counter": { "type": "word-counter", "minLength": 3, "using": { "source": "fanout" } }
/// ```
public final class WordCounter: Component, ConsoleCommands {
    /// The component type, with its console command.
    public static let type = ComponentType(
        "word-counter", summary: "Counts the words of every message of a mult, per room.",
        updatableFields: ["minLength"],
        console: ConsoleTopic("words", usage: "words [counter] [-n N]", summary: "the most used words, per room", runsBare: true)
    ) { WordCounter($0) }

    private let name: String
    private let source: Dependency<any MessageFanout>
    private let capacity: Int
    private let minLength = Atomic<Int>(1)
    private let counts = Mutex<[String: [String: Int]]>([:])
    private let messages = Atomic<Int>(0)
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(_ context: ComponentContext) {
        name = context.name
        source = context.dependency("source", as: (any MessageFanout).self, "the mult whose messages are counted")
        capacity = context.config.int("capacity", default: 256, in: 1...100_000)
        minLength.store(Self.minLength(context.config), ordering: .relaxed)
    }

    private static func minLength(_ config: ConfigReader) -> Int {
        config.int("minLength", default: 1, in: 1...100)
    }

    public func start() async throws {
        // A tap of our own: a slow counter drops its oldest messages, never slows the others.
        let tap = try source.get().tap(TapOptions(name: "words:\(name)", policy: .dropOldest, capacity: capacity))
        task.withLock { $0 = Task { [self] in
            for await message in tap { count(message) }
        } }
    }

    public func stop() async throws {
        let running = task.withLock { t in defer { t = nil }; return t }
        running?.cancel()
        await running?.value
    }

    public func update(_ config: ConfigReader) async throws {
        let length = Self.minLength(config)
        try config.throwIssues()
        minLength.store(length, ordering: .relaxed)
    }

    private func count(_ message: Message) {
        let shortest = minLength.load(ordering: .relaxed)
        let words = message.text.lowercased().split { !$0.isLetter && !$0.isNumber }.filter { $0.count >= shortest }
        counts.withLock { c in
            for word in words { c[message.room ?? "lobby", default: [:]][String(word), default: 0] += 1 }
        }
        messages.add(1, ordering: .relaxed)
    }

    /// The `n` most used words of each room, most used first.
    public func top(_ n: Int) -> [String: [(word: String, count: Int)]] {
        counts.withLock { c in
            c.mapValues { words in words.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(n).map { ($0.key, $0.value) } }
        }
    }

    public func inspect() async -> JSONValue {
        let rooms = counts.withLock { $0.mapValues { $0.values.reduce(0, +) } }
        return [
            "messages": .int(messages.load(ordering: .relaxed)),
            "minLength": .int(minLength.load(ordering: .relaxed)),
            "wordsByRoom": .object(JSONObject(rooms.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
        ]
    }

    /// `words [-n N]`: the top words of each room.
    public func console(_ words: [String]) async throws -> (text: String, data: JSONValue) {
        var n = 5
        switch words.count {
        case 0: break
        case 2 where words[0] == "-n":
            guard let v = Int(words[1]), (1...1000).contains(v) else { throw ConsoleCommandError(.usage, "-n takes a number from 1 to 1000") }
            n = v
        default: throw ConsoleCommandError(.usage, "words [-n N]")
        }
        let top = top(n)
        let text = top.keys.sorted().map { room in
            "\(room): " + (top[room] ?? []).map { "\($0.word) \($0.count)" }.joined(separator: ", ")
        }.joined(separator: "\n")
        let data = JSONValue.object(JSONObject(top.sorted { $0.key < $1.key }.map { room, list in
            (room, .array(list.map { ["word": .string($0.word), "count": .int($0.count)] }))
        }))
        return (text.isEmpty ? "no words yet" : text, data)
    }
}
