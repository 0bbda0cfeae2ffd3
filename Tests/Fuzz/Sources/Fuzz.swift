import Crypto
import Foundation
import JWTKit
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOWebSocket
import Switchboard
import SwitchboardCLI
import SwitchboardChannels
import SwitchboardConsole
@testable import SwitchboardStore
@testable import SwitchboardWeb

/// libFuzzer's entry point: every parser of outside input, one target per run, chosen by
/// `SWITCHBOARD_FUZZ_TARGET` (see `dev/fuzz.sh`). A target must never crash, trap or hang on
/// any input; a refusal is an answer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    FuzzTarget.current.run(bytes)
    return 0
}

enum FuzzTarget: String, CaseIterable {
    case http, websocket, message, query, system, console, webhook, sse, token, bus

    static let current: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["SWITCHBOARD_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set SWITCHBOARD_FUZZ_TARGET to one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return target
    }()

    func run(_ bytes: [UInt8]) {
        switch self {
        case .http: HTTPFuzz.run(bytes)
        case .websocket: WebSocketFuzz.run(bytes)
        case .message: MessageFuzz.run(bytes)
        case .query: QueryFuzz.run(bytes)
        case .system: SystemFuzz.run(bytes)
        case .console: ConsoleFuzz.run(bytes)
        case .webhook: WebhookFuzz.run(bytes)
        case .sse: SSEFuzz.run(bytes)
        case .token: TokenFuzz.run(bytes)
        case .bus: BusFuzz.run(bytes)
        }
    }
}

/// The first byte picks a variant; the rest is the input.
extension Array where Element == UInt8 {
    var split: (UInt8, ArraySlice<UInt8>) { (first ?? 0, dropFirst()) }

    /// The input cut at 0x00 bytes into at most `n` parts (the last takes the rest).
    func parts(_ n: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var rest = self[...]
        while out.count < n - 1, let zero = rest.firstIndex(of: 0) {
            out.append(Array(rest[..<zero]))
            rest = rest[(zero + 1)...]
        }
        out.append(Array(rest))
        while out.count < n { out.append([]) }
        return out
    }
}

/// `POST /messages` bodies in each content type the publisher reads.
enum MessageFuzz {
    static func run(_ bytes: [UInt8]) {
        let (variant, body) = bytes.split
        let types = ["application/json", "application/x-www-form-urlencoded", "text/plain", "", "application/xml"]
        let type = types[Int(variant) % types.count]
        _ = try? MessageInput.parse(ByteBuffer(bytes: body), mediaType: type.isEmpty ? nil : type, query: { _ in nil }, maxTextLength: 4096)
        _ = try? MessageFields.decode(try JSONParser.parse(Array(body)).value, rules: .init(refusesUnknownKeys: variant & 1 == 0))
    }
}

/// An event stream as `SwitchboardClient` reads it (`SSEParser`): fed whole and in chunks cut
/// where the first byte says, the two must agree, and nothing held grows past its bounds.
enum SSEFuzz {
    static func run(_ bytes: [UInt8]) {
        let (variant, stream) = bytes.split
        var whole = SSEParser(maxLineBytes: 64, maxEventBytes: 256)
        var items = whole.feed(stream)
        whole.finish()
        var cut = SSEParser(maxLineBytes: 64, maxEventBytes: 256)
        var pieces: [SSEParser.Item] = []
        let step = Int(variant % 7) + 1
        var at = stream.startIndex
        while at < stream.endIndex {
            let end = min(at + step, stream.endIndex)
            pieces += cut.feed(stream[at..<end])
            at = end
        }
        precondition(pieces == items, "fed in chunks of \(step), the stream read differently")
        // Each byte decodes to at most one scalar.
        for case .event(let e) in items { precondition(e.data.unicodeScalars.count <= 256, "an event past its bound") }
        items.removeAll()
    }
}

/// `GET /history` query strings and every resume cursor.
enum QueryFuzz {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        var query: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            query[String(kv[0]).removingPercentEncoding ?? String(kv[0])] = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
        }
        _ = HistoryEndpoint.query({ query[$0] }, defaultRoom: "lobby", defaultLimit: 50, maxLimit: 500)
        for (key, value) in query {
            _ = StoredResume.cursor(value, parameter: key)
            if let id = MessageID(value) { precondition(id.rawValue <= MessageID.greatest.rawValue && id.storedValue > 0) }
        }
        _ = WebSocketEndpoint.resumeRequest(text)
    }
}

/// `system.json` through the same loading and validation as `switchboard check`.
enum SystemFuzz {
    static let loader = SystemLoader(registry: .standard, environment: ["SECRET": "a-secret-of-at-least-32-bytes-long!!"],
                                     logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))

    /// With the root system's profiles, a variable set and a partial start: the merge patches,
    /// the variables' parsers and the `--only` closure run on what the fuzzer writes.
    static let profiled: SystemLoader = {
        var l = loader
        l.profiles = ["dev", "prod"]
        l.settings = ["port": "9001"]
        l.only = ["publish"]
        return l
    }()

    static func run(_ bytes: [UInt8]) {
        if let system = try? loader.load(bytes: bytes, source: "/nonexistent-fuzz/system.json") {
            _ = system.spec.maskedDocument()
            _ = system.spec.shownDocument(defaults: true)
        }
        if let system = try? profiled.load(bytes: bytes, source: "/nonexistent-fuzz/system.json") {
            _ = system.spec.shownDocument(defaults: true)
        }
    }
}

/// Console input: command lines (quoting), heredocs, and the socket's frames.
enum ConsoleFuzz {
    static func run(_ bytes: [UInt8]) {
        let (variant, rest) = bytes.split
        let text = String(decoding: rest, as: UTF8.self)
        switch variant % 3 {
        case 0:
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                _ = try? CommandLineParser.words(String(line))
                _ = CommandLineParser.head(String(line))
                _ = CommandLineParser.heredoc(String(line))
            }
        case 1:
            let lines = Lines(text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
            while let command = blocking({ await CommandLineParser.command { lines.next() } }) { _ = try? CommandLineParser.words(command) }
        default:
            var decoder = FrameDecoder()
            decoder.feed(rest)
            while let frame = try? decoder.next() { _ = frame }
        }
    }


}

/// A client's token (`Authorization: Bearer`, `?token=`, a WebSocket's first frame) through
/// `TokenVerifier`. Odd first byte: the rest is the token. Even: the rest is the claims of a
/// token signed with the key, so that the checks behind the signature (times, lifetime,
/// audience, subject, rooms) run on what the fuzzer writes as well.
enum TokenFuzz {
    static let secret = "a-fuzzing-secret-of-thirty-two-bytes"
    static let verifier: TokenVerifier = blocking {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return TokenVerifier(keys: keys, known: [.init(alg: "HS256", kid: nil)], issuer: nil, audience: "chat", leeway: .seconds(5))
    }

    static func base64url<B: Sequence>(_ bytes: B) -> String where B.Element == UInt8 {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A token whose claims are `claims`, signed with the key.
    static func signed<C: Sequence>(_ claims: C) -> String where C.Element == UInt8 {
        let input = base64url(#"{"alg":"HS256","typ":"JWT"}"#.utf8) + "." + base64url(claims)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return input + "." + base64url(Data(mac))
    }

    static func verifies(_ token: String) -> Bool {
        let verifier = verifier
        return blocking { (try? await verifier.verify(token)) != nil }
    }

    /// The even variant is worth running only if its tokens pass the signature: checked once.
    static let signingWorks: Bool = {
        let exp = Int(Date().timeIntervalSince1970) + 60
        precondition(verifies(signed(#"{"sub":"ann","aud":"chat","exp":\#(exp)}"#.utf8)), "TokenFuzz signs tokens its verifier refuses")
        return true
    }()

    static func run(_ bytes: [UInt8]) {
        let (variant, rest) = bytes.split
        _ = verifies(variant % 2 == 1 ? String(decoding: rest, as: UTF8.self) : (signingWorks ? signed(rest) : ""))
    }
}

/// What the bus's LISTEN connection hands the reader (any role that may NOTIFY the channel can
/// send it): the rows of an `r:` payload, then each row's message as SSE writes it. Odd first
/// byte: a PostgreSQL URL instead (a database's `url`, from a file or the environment).
enum BusFuzz {
    static func run(_ bytes: [UInt8]) {
        let (variant, rest) = bytes.split
        let text = String(decoding: rest, as: UTF8.self)
        if variant % 2 == 1 {
            if let url = try? PostgresURL(text) { _ = url.display }
            return
        }
        for (_, message) in BusLog.rows(announced: text[...]) ?? [] { _ = message.jsonText() }
    }
}

/// Standard Webhooks and GitHub signature headers.
enum WebhookFuzz {
    static let signer = try! StandardWebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    static let github = GitHubSignature(secret: "a-github-secret")

    static func run(_ bytes: [UInt8]) {
        let p = bytes.parts(4)
        let text = { (b: [UInt8]) in String(decoding: b, as: UTF8.self) }
        try? signer.verify(id: text(p[0]), timestamp: text(p[1]), signature: text(p[2]), body: p[3])
        _ = github.isValid(header: text(p[0]), body: p[3])
    }
}

/// Client bytes through NIO's frame decoder and the session's wire, on an EmbeddedChannel.
enum WebSocketFuzz {
    static func run(_ bytes: [UInt8]) {
        let channel = EmbeddedChannel()
        let wire = WebSocketWire(eventLoop: channel.eventLoop, maxMessageSize: 1024, closeTimeout: .milliseconds(10))
        wire.onMessage = { _ in }
        try! channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 4096)), wire])
        _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // Delivered in a few pieces, as a socket would.
        var rest = bytes[...]
        while !rest.isEmpty {
            let n = min(rest.count, Int(rest.first! % 64) + 1)
            _ = try? channel.writeInbound(ByteBuffer(bytes: rest.prefix(n)))
            rest = rest.dropFirst(n)
            channel.embeddedEventLoop.run()
        }
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
        _ = try? channel.finish()
    }
}

/// Request bytes through a connection's handlers (NIO's HTTP/1 codec and the Wire's
/// `HTTPConnectionHandler`), with the routes of a running server: publish (answered on the loop
/// or after a wait), a stream, a WebSocket handshake and ordinary routes; timers fired.
enum HTTPFuzz {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": {"size": 64, "policy": "dropping"}},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0, "cors": {"origins": ["https://chat.test"]}},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}},
          "ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox"}},
          "page": {"type": "page", "using": {"server": "http"}}
        }}
        """#

    static let server: HTTPServerComponent = startServer()

    static func startServer() -> HTTPServerComponent {
        blocking {
        let loader = SystemLoader(registry: .standard, environment: [:], logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        let map = SystemMap(try! loader.load(text: system), logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        try! await map.start()
        return await map.instance(named: "http") as! HTTPServerComponent
        }
    }

    static func run(_ bytes: [UInt8]) {
        let server = self.server
        blocking {
            let channel = NIOAsyncTestingChannel()
            let settings = WireSettings(bodyLimit: 4096, requestTimeout: .seconds(1), keepAliveTimeout: .seconds(2), maxWebSocketFrame: 4096)
            try? await channel.testingEventLoop.executeInContext {
                try channel.pipeline.syncOperations.addHandlers([
                    HTTPResponseEncoder(), ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)),
                    HTTPConnectionHandler(server: server, settings: settings, channel: channel),
                ])
            }
            try? await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
            // Delivered in a few pieces, as a socket would.
            var rest = bytes[...]
            while !rest.isEmpty, channel.isActive {
                let n = min(rest.count, Int(rest.first! % 128) + 1)
                _ = try? await channel.writeInbound(ByteBuffer(bytes: rest.prefix(n)))
                rest = rest.dropFirst(n)
            }
            for _ in 0..<3 {
                await channel.testingEventLoop.advanceTime(by: .seconds(1))
                while (try? await channel.readOutbound(as: ByteBuffer.self)) != nil {}
            }
            _ = try? await channel.finish()
        }
    }
}

/// Runs an async function to its end from libFuzzer's synchronous entry point.
func blocking<T>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}

/// Where `blocking` leaves its result (written by the task before the semaphore is signalled).
final class ResultBox<T>: @unchecked Sendable { var value: T? }

/// Console lines handed out one at a time (only the one task that reads them touches it).
final class Lines: @unchecked Sendable {
    private var rest: ArraySlice<String>
    init(_ lines: [String]) { rest = lines[...] }
    func next() -> String? { rest.popFirst() }
}
