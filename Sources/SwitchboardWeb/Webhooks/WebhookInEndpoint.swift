import Foundation
import HTTPTypes
import Hummingbird
import Switchboard
import SwitchboardChannels
import Synchronization

/// The `webhook-in` endpoint: `POST /webhooks/<name>` verified, then put on a channel.
///
/// ```json
/// "github": { "type": "webhook-in", "verify": "github", "secret": {"$env": "GITHUB_SECRET"},
///             "map": { "text": "head_commit.message", "from": "sender.login" },
///             "using": { "server": "http", "channel": "inbox" } }
/// ```
///
/// Answers: `202 {"id"}` accepted; `200 {"status": "duplicate"}` for a delivery id already
/// accepted within the tolerance window (so the sender stops retrying; nothing is put
/// again); `401` missing or bad signature, or a timestamp outside the tolerance; `400` a
/// body that is not JSON; `413` too large; `503` the channel is full or no secret is set.
public final class WebhookInEndpoint: Component {
    enum Verification: String, CaseIterable {
        case standard, github, none
    }

    struct Config {
        var path: String
        var verify: Verification
        var secrets: [String]
        var secretSource: String
        var tolerance: Duration
        var maxBodySize: Int
        var wait: Duration
        var textPath: String?
        var fromPath: String?
        var roomPath: String?
        var keepData: Bool
        var from: String

        init(_ context: ComponentContext) {
            let c = context.config
            path = context.routePath(default: "/webhooks/\(context.name)")
            verify = Verification(rawValue: c.oneOf("verify", Verification.allCases.map(\.rawValue), default: "standard")) ?? .standard
            secretSource = c.object["secret"]?["$env"]?.stringValue.map { "environment variable \($0)" } ?? "field secret"
            secrets = c.secrets("secret") ?? []
            tolerance = c.duration("tolerance", default: .seconds(300))
            maxBodySize = c.int("maxBodySize", default: 1_048_576, in: 1...1_073_741_824)
            wait = c.duration("wait", default: .seconds(2))
            from = c.string("from", default: context.name)
            let map = c.object("map")
            textPath = map?.string("text")
            fromPath = map?.string("from")
            roomPath = map?.string("room")
            keepData = map?.bool("data", default: true) ?? true
            if verify == .standard {
                for (i, s) in secrets.enumerated() where (try? StandardWebhookSigner(secret: s)) == nil {
                    c.issue(.invalidValue, at: c.path.appending("secret").appending(i), "a Standard Webhooks secret is whsec_ followed by base64")
                }
            }
            if verify == .none, c.has("secret") {
                c.issue(.invalidValue, "secret", "verify is \"none\": a secret would be ignored")
            }
            context.claimRoute("POST", path)
        }
    }

    private let name: String
    private let mount: EndpointMount
    private let channel: Dependency<any MessageSink>
    private let config: Config
    private let replays: ReplayGuard
    private let counts = Mutex<[String: Int]>([:])
    private let runtime: ComponentRuntime

    init(_ context: ComponentContext) {
        name = context.name
        mount = EndpointMount(context)
        channel = context.dependency("channel", as: (any MessageSink).self, "the channel verified webhooks are put on")
        config = Config(context)
        replays = ReplayGuard(window: config.tolerance)
        runtime = context.runtime
    }

    /// The component type.
    public static let type = ComponentType(
        "webhook-in", summary: "POST /webhooks/<name>: verified inbound webhooks (Standard Webhooks, GitHub) onto a channel."
    ) { WebhookInEndpoint($0) }

    public func start() async throws {
        let sink = try channel.get()
        if config.verify != .none, config.secrets.isEmpty {
            runtime.logger.warning("no secret is set for \(config.path) (\(config.secretSource)): every request is refused until it is")
        }
        try mount.mount([HTTPRoute(.post, config.path) { [self] request, _ in await receive(request, sink) }])
    }

    public func stop() async throws {
        mount.unmount()
    }

    private func count(_ key: String) { counts.withLock { $0[key, default: 0] += 1 } }

    private func refuse(_ status: HTTPResponse.Status, _ reason: String, key: String) -> Response {
        count(key)
        return .error(status, reason)
    }

    func receive(_ request: Request, _ sink: any MessageSink) async -> Response {
        let body: ByteBuffer
        do {
            body = try await BodyLimit.collect(request, limit: config.maxBodySize)
        } catch {
            return refuse(.contentTooLarge, "the body exceeds \(config.maxBodySize) bytes", key: "tooLarge")
        }
        let bytes = Data(body.readableBytesView)
        let h = { (name: String) in request.headers[HTTPField.Name(name)!] }
        var deliveryID: String?
        switch config.verify {
        case .none:
            deliveryID = h("webhook-id") ?? h("X-GitHub-Delivery")
        case .standard, .github:
            guard !config.secrets.isEmpty else {
                return refuse(.serviceUnavailable, "this endpoint has no secret configured (\(config.secretSource)); it refuses every request", key: "noSecret")
            }
            if config.verify == .standard {
                var lastRejection = StandardWebhookSigner.Rejection.noValidSignature
                var valid = false
                for secret in config.secrets {
                    guard let signer = try? StandardWebhookSigner(secret: secret) else { continue }
                    do {
                        try signer.verify(id: h("webhook-id"), timestamp: h("webhook-timestamp"), signature: h("webhook-signature"),
                                          body: bytes, tolerance: config.tolerance)
                        valid = true
                        break
                    } catch {
                        lastRejection = error
                        if case .noValidSignature = error { continue }
                        break
                    }
                }
                guard valid else {
                    if case .badTimestamp = lastRejection { return refuse(.badRequest, lastRejection.description, key: "malformed") }
                    return refuse(.unauthorized, lastRejection.description, key: "unauthorized")
                }
                deliveryID = h("webhook-id")
            } else {
                guard h("X-Hub-Signature-256") != nil else { return refuse(.unauthorized, "missing X-Hub-Signature-256 header", key: "unauthorized") }
                guard config.secrets.contains(where: { GitHubSignature(secret: $0).isValid(header: h("X-Hub-Signature-256"), body: bytes) }) else {
                    return refuse(.unauthorized, "X-Hub-Signature-256 does not match", key: "unauthorized")
                }
                deliveryID = h("X-GitHub-Delivery")
            }
        }
        if let deliveryID, !replays.firstSighting(deliveryID) {
            count("duplicate")
            return .json(.ok, ["status": "duplicate", "webhookId": .string(deliveryID)])
        }
        let payload: JSONValue
        do {
            payload = try JSONParser.parse(Array(bytes)).value
        } catch {
            return refuse(.badRequest, "the body is not JSON: \(error.description)", key: "malformed")
        }
        let message = Message(
            from: lookup(config.fromPath, in: payload) ?? config.from,
            text: lookup(config.textPath, in: payload) ?? defaultText(payload, deliveryID),
            room: lookup(config.roomPath, in: payload),
            data: config.keepData ? ["webhookId": deliveryID.map(JSONValue.string) ?? .null, "payload": payload] : nil)
        switch await sink.put(message, timeout: config.wait) {
        case .accepted, .dropped:
            count("accepted")
            return .json(.accepted, ["id": .string(message.id.description), "status": "accepted"])
        case .wouldBlock, .closed:
            count("full")
            var headers = HTTPFields()
            headers[.retryAfter] = "5"
            // Forget the id: the sender will retry this delivery and it must be taken then.
            if let deliveryID { replays.forget(deliveryID) }
            return .error(.serviceUnavailable, "the channel is full or not running; retry later", headers: headers)
        }
    }

    private func defaultText(_ payload: JSONValue, _ id: String?) -> String {
        for key in ["text", "message", "type", "event", "action"] {
            if let s = payload[key]?.stringValue { return s }
        }
        return "webhook \(id ?? "") received"
    }

    /// The string at a dotted path (`a.b.0.c`) of the payload.
    func lookup(_ path: String?, in value: JSONValue) -> String? {
        guard let path else { return nil }
        var current: JSONValue? = value
        for part in path.split(separator: ".") {
            if let i = Int(part) { current = current?[i] } else { current = current?[String(part)] }
        }
        switch current {
        case .string(let s)?: return s
        case .int(let i)?: return String(i)
        case .double(let d)?: return String(d)
        case .bool(let b)?: return String(b)
        default: return nil
        }
    }

    public func inspect() async -> JSONValue {
        let c = counts.withLock { $0 }
        return [
            "path": .string(config.path), "verify": .string(config.verify.rawValue),
            "secretSet": .bool(!config.secrets.isEmpty), "tolerance": .string(config.tolerance.short),
            "rememberedIds": .int(replays.count),
            "counts": .object(JSONObject(c.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
        ]
    }
}
