import Switchboard
import SwitchboardChannels
import Synchronization

/// Puts a message on a channel every `interval`: a complete custom component.
final class Ticker: Component {
    struct Config {
        var text: String
        var interval: Duration

        init(_ config: ConfigReader) {
            text = config.string("text", default: "tick")
            interval = config.duration("interval", default: .seconds(1))
        }
    }

    static let type = ComponentType("ticker", summary: "Puts a message on a channel every interval.") { context in
        Ticker(context)
    }

    private let config: Config
    private let sink: Dependency<any MessageSink>
    private let ticks = Atomic<Int>(0)
    private let loop = Mutex<Task<Void, Never>?>(nil)

    init(_ context: ComponentContext) {
        config = Config(context.config)
        sink = context.dependency("sink", as: (any MessageSink).self, "where the ticks go")
    }

    func start() async throws {
        let sink = try self.sink.get()
        loop.withLock { $0 = Task { await self.tick(into: sink) } }
    }

    private func tick(into sink: any MessageSink) async {
        while (try? await Task.sleep(for: config.interval)) != nil {
            let n = ticks.add(1, ordering: .relaxed).newValue
            _ = await sink.put(Message(from: "ticker", text: "\(config.text) \(n)"), timeout: .seconds(1))
        }
    }

    func stop() async throws {
        let task = loop.withLock { task in defer { task = nil }; return task }
        task?.cancel()
        await task?.value
    }

    func inspect() async -> JSONValue {
        ["ticks": .int(ticks.load(ordering: .relaxed)), "interval": .string(config.interval.short)]
    }
}
