import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Switchboard
import SwitchboardTesting
import SwitchboardChannels
import SwitchboardStore
import SwitchboardWeb
import Testing

/// A system from inline JSON (servers on port 0), started, with helpers to talk to it.
struct WebHarness {
    let map: SystemMap

    static var registry: ComponentRegistry {
        var r = ComponentRegistry()
        r.register(ChannelComponents.types())
        r.register(WebComponents.types)
        r.register(StoreComponents.types)
        return r
    }

    /// Starts `json` through `SystemHarness` (ports as written: tests choose 0) with the types of
    /// the three libraries.
    static func start(_ json: String, logger: Logger = .tests) async throws -> WebHarness {
        let system = try await SystemHarness.start(text: json, freePorts: false, registry: registry, environment: [:], logger: logger)
        return WebHarness(map: system.map)
    }

    func component<T>(_ name: String, as: T.Type) async throws -> T {
        try #require(await map.instance(named: name) as? T)
    }

    func url(_ path: String, server: String = "http") async throws -> String {
        let s = try await component(server, as: HTTPServerComponent.self)
        return try #require(s.baseURL) + path
    }

    func stop() async { await map.stop() }

    /// A request through the real socket; the body collected.
    func request(_ method: HTTPMethod, _ path: String, server: String = "http", headers: [(String, String)] = [], body: String? = nil) async throws -> (status: Int, headers: HTTPHeaders, body: String) {
        var req = HTTPClientRequest(url: try await url(path, server: server))
        req.method = method
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(string: body)) }
        let res = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let bytes = try await res.body.collect(upTo: 10 << 20)
        return (Int(res.status.code), res.headers, String(buffer: bytes))
    }

    func postJSON(_ path: String, _ json: String) async throws -> (status: Int, body: JSONValue) {
        let r = try await request(.POST, path, headers: [("Content-Type", "application/json")], body: json)
        return (r.status, try JSONParser.parse(r.body).value)
    }
}

/// Reads a `text/event-stream` response event by event: AsyncHTTPClient's streamed body through
/// the `SSEParser` that `SwitchboardClient` reads with.
final class SSEReader {
    typealias Event = SSEParser.Event

    let status: Int
    let headers: HTTPHeaders
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private var parser = SSEParser()
    private var ready: [SSEParser.Item] = []
    /// Comment lines (`: ping`) seen so far.
    private(set) var comments: [String] = []
    /// `retry:` values seen.
    private(set) var retries: [Int] = []

    init(_ url: String, headers: [(String, String)] = [], client: HTTPClient = .shared) async throws {
        var req = HTTPClientRequest(url: url)
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        let res = try await client.execute(req, timeout: .seconds(60))
        status = Int(res.status.code)
        self.headers = res.headers
        iterator = res.body.makeAsyncIterator()
    }

    /// The next event (comments and `retry:` lines are recorded, not returned); `nil` at the end.
    func next() async throws -> Event? {
        try await next(stopAtComment: false)
    }

    /// Reads until a comment line (`: ping`) has arrived; whether one did before the end.
    func waitForComment() async throws -> Bool {
        while comments.isEmpty {
            if try await next(stopAtComment: true) == nil, comments.isEmpty { return false }
        }
        return true
    }

    private func next(stopAtComment: Bool) async throws -> Event? {
        while true {
            while !ready.isEmpty {
                switch ready.removeFirst() {
                case .event(let e): return e
                case .comment(let c):
                    comments.append(":" + c)
                    if stopAtComment { return nil }
                case .retry(let ms): retries.append(ms)
                }
            }
            guard let chunk = try await iterator.next() else {
                parser.finish()
                return nil
            }
            ready = parser.feed(chunk.readableBytesView)
        }
    }

    /// The next event whose name is `name`.
    func next(named name: String) async throws -> Event? {
        while let e = try await next() {
            if e.event == name { return e }
        }
        return nil
    }
}

/// Calls the server's responder directly: no socket, no client.
enum InProcess {
    final class Box: @unchecked Sendable { var buffer = ByteBuffer() }

    struct Collector: ResponseBodyWriter {
        let box: Box
        mutating func write(_ b: ByteBuffer) async throws { var b = b; box.buffer.writeBuffer(&b) }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    static func respond(_ server: HTTPServerComponent, _ method: HTTPRequest.Method, _ path: String,
                        headers: HTTPFields = [:], body: String = "") async throws -> (status: Int, headers: HTTPFields, body: String) {
        let head = HTTPRequest(method: method, scheme: "http", authority: "test", path: path, headerFields: headers)
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer(string: body)))
        let context = EdgeContext(source: .init(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        let response = try await server.respond(to: request, context: context)
        let box = Box()
        try await response.body.write(Collector(box: box))
        return (response.status.code, response.headers, String(buffer: box.buffer))
    }
}
