import Foundation
import Synchronization
import Logging
import Switchboard
import SwitchboardCLI
import SwitchboardConsole
import SwitchboardWeb

/// A system started for a test (Donut's test harness, Integrant's `init` with overrides): a
/// system file — with profiles and `--set` values as on the command line — with named
/// components replaced by test doubles, every `http-server` on a free port, started; the test
/// gets each endpoint's URL and an in-process console session, and stops it.
///
/// ```swift
/// let system = try await SystemHarness.start(file: "system.json", profiles: ["dev"], overrides: ["inbox": RecordingSink()])
/// defer { Task { await system.stop() } }
/// let publish = try await system.url("publish")            // http://127.0.0.1:PORT/messages
/// let status = await system.console("status")               // the console's answer, in process
/// ```
public final class SystemHarness: Sendable {
    /// The running system.
    public let map: SystemMap
    /// What it was built from (after profiles, variables, overrides and free ports).
    public let spec: SystemSpec
    private let host: AdminHost

    /// What the console's `reload` reads: the text the system started from, unless
    /// `replaceText` changed it.
    private let source: ReloadSource

    private init(map: SystemMap, spec: SystemSpec, registry: ComponentRegistry, logger: Logger, source: ReloadSource) {
        self.map = map
        self.spec = spec
        self.source = source
        var host = AdminHost(
            map: map, logger: logger,
            reload: { [map, source] dryRun in
                let (text, name, loader) = source.current
                do {
                    let outcome = try await map.reload(text: text, source: name, loader: loader, dryRun: dryRun)
                    return .init(ok: outcome.ok, text: outcome.text, data: outcome.json)
                } catch {
                    return .init(ok: false, text: "\(name ?? "the system") is not valid; nothing changed\n\(error)")
                }
            },
            shutdown: { [map] in _ = await map.stop() })
        host.registry = registry
        self.host = host
        map.serveRemoteConsole(host.remoteRunner)
    }

    /// Makes the console's next `reload` read `text` (as an edit of the system file would).
    public func replaceText(_ text: String) {
        source.replace(text)
    }

    /// Loads `file` and starts it.
    ///
    /// - Parameters:
    ///   - file: the path of the system file (`system.json`).
    ///   - profiles: the file's profiles to apply, in order (`--profile`).
    ///   - settings: values of its variables (`--set`), ahead of `environment` and the defaults.
    ///   - overrides: instances that stand in for the named components; they must be what the
    ///     components that use them expect (a `MessageStore`, say).
    ///   - freePorts: every `http-server` listens on a port the system picks (0).
    ///   - registry: the component types (the built-in ones by default; add your own).
    ///   - environment: where `$env` and the variables' `env` names are looked up.
    ///   - logger: the system's log (by default warnings and worse; `SWITCHBOARD_TEST_LOG=debug` for more).
    public static func start(
        file: String, profiles: [String] = [], settings: [String: String] = [:], overrides: [String: any Component] = [:],
        freePorts: Bool = true, registry: ComponentRegistry = .standard, environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = .tests
    ) async throws -> SystemHarness {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigErrors([ConfigIssue(.unreadable, at: ConfigPath(), "\(file) cannot be read")])
        }
        return try await start(text: String(decoding: data, as: UTF8.self), source: file, profiles: profiles, settings: settings, overrides: overrides,
                               freePorts: freePorts, registry: registry, environment: environment, logger: logger)
    }

    /// Loads a system given as text (`source` names it in errors and anchors relative paths)
    /// and starts it, as `start(file:…)`.
    public static func start(
        text: String, source: String? = nil, profiles: [String] = [], settings: [String: String] = [:], overrides: [String: any Component] = [:],
        freePorts: Bool = true, registry: ComponentRegistry = .standard, environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = .tests
    ) async throws -> SystemHarness {
        var loader = SystemLoader(registry: registry, environment: environment, logger: logger)
        loader.profiles = profiles
        loader.settings = settings
        loader.overrides = overrides
        if freePorts, let document = loader.document(text: text) {
            // The servers as the profiles leave them: each on port 0.
            let servers = (document["components"]?.objectValue ?? JSONObject()).filter { $0.value["type"] == "http-server" }
            let patch = JSONObject(servers.map { ($0.key, ["port": 0] as JSONValue) })
            loader.patches = [["components": .object(patch)]]
        }
        let system = try loader.load(text: text, source: source)
        let map = SystemMap(system, logger: logger)
        try await map.start()
        return SystemHarness(map: map, spec: system.spec, registry: registry, logger: logger, source: ReloadSource(text: text, name: source, loader: loader))
    }

    /// The URL of a component: a server's base URL, or an endpoint's route on its server
    /// (`url("events")` → `http://127.0.0.1:PORT/events`), with `query` appended.
    public func url(_ component: String, query: String? = nil) async throws -> String {
        guard let c = spec.component(component) else { throw HarnessError("no component named \"\(component)\"") }
        let serverName = c.type == "http-server" ? component : c.using["server"]
        guard let serverName, let server = await map.instance(named: serverName) as? HTTPServerComponent, let base = server.baseURL else {
            throw HarnessError("\(component) is not a running server or an endpoint on one")
        }
        var url = base
        if c.type != "http-server" {
            let written = c.config["path"]?.stringValue
            guard let path = written ?? spec.defaults[c.path.appending("path")]?.stringValue else {
                throw HarnessError("\(component) (\(c.type)) has no path")
            }
            url += path
        }
        if let query { url += "?" + query }
        return url
    }

    /// The component named `name` as `T` (the double given, or the built one).
    public func component<T>(_ name: String, as type: T.Type = T.self) async throws -> T {
        guard let c = await map.instance(named: name) as? T else { throw HarnessError("no component \"\(name)\" of type \(T.self)") }
        return c
    }

    /// What the console answers `line`, run in process as an attached console runs it.
    public func console(_ line: String) async -> ConsoleAnswer {
        let session = ConsoleSession(host: host, peer: "harness")
        let events = EventLog()
        let frame = await session.run(line) { await events.add($0.payload) }
        return ConsoleAnswer(payload: frame.payload, events: await events.all)
    }

    /// Stops the system (in reverse dependency order).
    public func stop() async {
        _ = await map.stop()
    }
}

/// The console's answer to one command line.
public struct ConsoleAnswer: Sendable {
    /// The whole reply: `ok`, `text`, `data`, and `reason` when it failed.
    public let payload: JSONValue
    /// What the command sent before its reply (a `tail`'s lines, `top`'s screens).
    public let events: [JSONValue]

    public var ok: Bool { payload["ok"]?.boolValue == true }
    public var text: String { payload["text"]?.stringValue ?? "" }
    public var data: JSONValue { payload["data"] ?? .null }
}

/// What the harness could not do, and why.
public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

private actor EventLog {
    var all: [JSONValue] = []
    func add(_ e: JSONValue) { all.append(e) }
}

/// The text a harness's `reload` reads, and the loader that reads it.
private final class ReloadSource: Sendable {
    private let state: Mutex<(text: String, name: String?, loader: SystemLoader)>

    init(text: String, name: String?, loader: SystemLoader) {
        state = Mutex((text, name, loader))
    }

    var current: (String, String?, SystemLoader) { state.withLock { ($0.text, $0.name, $0.loader) } }

    func replace(_ text: String) { state.withLock { $0.text = text } }
}
