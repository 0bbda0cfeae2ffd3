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
/// accepted while its timestamp is still acceptable (so the sender stops retrying; nothing is
/// put again); `401` missing or bad signature, or a timestamp outside the tolerance; `400` a
/// body that is not JSON, a malformed timestamp, more than 16 signatures or a signature
/// header over 2 KB; `409` the same id is being handled right now; `413` too large; `503`
/// the channel is full or no secret is set. An id is remembered only once its message is on
/// the channel, and the memory carries over to the instance that replaces this one in a reload.
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
    private let intake: Intake
    private let replays: ReplayGuard
    private let runtime: ComponentRuntime

    init(_ context: ComponentContext) {
        name = context.name
        mount = EndpointMount(context)
        channel = context.dependency("channel", as: (any MessageSink).self, "the channel verified webhooks are put on")
        config = Config(context)
        intake = Intake(context, defaultRoom: Message.defaultRoom)
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
        try mount.mount([HTTPRoute(.post, config.path) { [self] request, context in await receive(request, sink, client: context.channel.clientAddress) }])
    }

    public func stop() async throws {
        mount.unmount()
    }

    /// What a suspended webhook-in hands on: its routes' placeholders and the ids it remembers.
    struct Suspended: Sendable {
        let replays: ReplayGuard
    }

    public func suspend() async throws -> (any Sendable)? {
        mount.suspend()
        return Suspended(replays: replays)
    }

    public func resume(from state: any Sendable) async throws {
        // The replay memory outlives the instance: a delivery accepted before the reload is
        // still a duplicate after it.
        if let s = state as? Suspended, s.replays !== replays { replays.absorb(s.replays) }
        try await start()
    }

    public func release(_ state: any Sendable) async {
        mount.release()
    }

    /// Refuses new messages (503 + `Retry-After`) while the system drains before a stop.
    public func drain(until deadline: ContinuousClock.Instant) async {
        mount.drain()
    }

    private func count(_ key: InputCount) { intake.counts.count(key) }

    private func refuse(_ status: HTTPResponse.Status, _ reason: String, key: InputCount, headers: HTTPFields = [:]) -> Response {
        count(key)
        return .error(status, reason, headers: headers)
    }

    /// The longest signature header taken (sixteen v1 signatures fit in well under it).
    static let maxSignatureHeader = 2048

    func receive(_ request: Request, _ sink: any MessageSink, client: String = "in-process") async -> Response {
        // Before anything is read or hashed: a flood costs no HMAC.
        if let limiter = intake.limiter, let wait = limiter.take(client) {
            count(.rateLimited)
            return .rateLimited(wait, limiter.config)
        }
        let h = { (name: String) in request.headers[HTTPField.Name(name)!] }
        // Cheap refusals first: nothing is read or hashed for an oversized signature header.
        for name in ["webhook-signature", "X-Hub-Signature-256"] where (h(name)?.utf8.count ?? 0) > Self.maxSignatureHeader {
            return refuse(.badRequest, "\(name) is longer than \(Self.maxSignatureHeader) bytes", key: .malformed)
        }
        let body: ByteBuffer
        do {
            body = try await BodyLimit.collect(request, limit: config.maxBodySize)
        } catch is BodyLimit.TooLarge {
            return refuse(.contentTooLarge, "the body exceeds \(config.maxBodySize) bytes", key: .tooLarge)
        } catch {
            return refuse(.badRequest, "the request body could not be read (malformed chunked encoding?)", key: .malformed)
        }
        let bytes = Data(body.readableBytesView)
        let deliveryID: String?
        switch verify(h, bytes) {
        case .failure(let refusal): return refusal.response
        case .success(let id): deliveryID = id
        }
        let timestamp = h("webhook-timestamp").flatMap { Double($0.trimmingSpaces()) }.flatMap { $0.isFinite ? Date(timeIntervalSince1970: $0) : nil }
        if let deliveryID {
            switch replays.begin(deliveryID) {
            case .fresh: break
            case .duplicate:
                count(.duplicate)
                return .json(.ok, ["status": "duplicate", "webhookId": .string(deliveryID)])
            case .inFlight:
                var headers = HTTPFields()
                headers[.retryAfter] = "1"
                return refuse(.conflict, "a delivery with webhook-id \(deliveryID) is being handled; retry later", key: .inFlight, headers: headers)
            }
        }
        // From here the id is in flight: it is remembered only once the message is on the
        // channel, so a refused delivery can be retried with the same id.
        let response = await put(bytes, deliveryID: deliveryID, sink)
        if let deliveryID {
            if response.status == .accepted { replays.accept(deliveryID, timestamp: timestamp) } else { replays.abandon(deliveryID) }
        }
        return response
    }

    /// Checks the signature the endpoint asks for; the delivery id on success.
    private func verify(_ h: (String) -> String?, _ bytes: Data) -> Result<String?, Refusal> {
        switch config.verify {
        case .none:
            return .success(h("webhook-id") ?? h("X-GitHub-Delivery"))
        case .standard, .github:
            guard !config.secrets.isEmpty else {
                return .failure(Refusal(refuse(.serviceUnavailable, "this endpoint has no secret configured (\(config.secretSource)); it refuses every request", key: .noSecret)))
            }
            if config.verify == .github {
                guard h("X-Hub-Signature-256") != nil else { return .failure(Refusal(refuse(.unauthorized, "missing X-Hub-Signature-256 header", key: .unauthorized))) }
                guard config.secrets.contains(where: { GitHubSignature(secret: $0).isValid(header: h("X-Hub-Signature-256"), body: bytes) }) else {
                    return .failure(Refusal(refuse(.unauthorized, "X-Hub-Signature-256 does not match", key: .unauthorized)))
                }
                return .success(h("X-GitHub-Delivery"))
            }
            var lastRejection = StandardWebhookSigner.Rejection.noValidSignature
            for secret in config.secrets {
                guard let signer = try? StandardWebhookSigner(secret: secret) else { continue }
                do {
                    try signer.verify(id: h("webhook-id"), timestamp: h("webhook-timestamp"), signature: h("webhook-signature"),
                                      body: bytes, tolerance: config.tolerance)
                    return .success(h("webhook-id"))
                } catch {
                    lastRejection = error
                    if case .noValidSignature = error { continue }
                    break
                }
            }
            switch lastRejection {
            case .badTimestamp, .tooManySignatures: return .failure(Refusal(refuse(.badRequest, lastRejection.description, key: .malformed)))
            default: return .failure(Refusal(refuse(.unauthorized, lastRejection.description, key: .unauthorized)))
            }
        }
    }

    /// A refusal as a `Result` failure.
    struct Refusal: Error {
        let response: Response
        init(_ response: Response) { self.response = response }
    }

    /// Parses the verified body and puts its message on the channel.
    private func put(_ bytes: Data, deliveryID: String?, _ sink: any MessageSink) async -> Response {
        let payload: JSONValue
        do {
            payload = try JSONParser.parse(Array(bytes)).value
        } catch {
            return refuse(.badRequest, "the body is not JSON: \(error.description)", key: .malformed)
        }
        var fields = MessageFields(text: lookup(config.textPath, in: payload) ?? defaultText(payload, deliveryID),
                                   from: lookup(config.fromPath, in: payload) ?? config.from, room: lookup(config.roomPath, in: payload))
        if let refusal = intake.admit(&fields, identity: nil, client: "webhook", limitRate: false) {
            return PublishEndpoint.answer(refusal).response
        }
        let message = Message(from: fields.from ?? config.from, text: fields.text, room: fields.room,
                              data: config.keepData ? ["webhookId": deliveryID.map(JSONValue.string) ?? .null, "payload": payload] : nil)
        let outcome = await intake.put(message, on: sink, wait: config.wait)
        switch outcome {
        case .stored, .put(.accepted), .put(.dropped):
            return .json(.accepted, ["id": .string(outcome.id(of: message).description), "status": .string(outcome.status == "stored" ? "stored" : "accepted")])
        case .notStored(let why, _):
            // The sender retries (with the same webhook-id, which is not remembered): at least once.
            var headers = HTTPFields()
            headers[.retryAfter] = "5"
            return .error(.serviceUnavailable, "not stored: \(why); retry later", headers: headers)
        case .put(.wouldBlock), .put(.closed):
            var headers = HTTPFields()
            headers[.retryAfter] = "5"
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
        return [
            "path": .string(config.path), "verify": .string(config.verify.rawValue),
            "secretSet": .bool(!config.secrets.isEmpty), "tolerance": .string(config.tolerance.short),
            "rememberedIds": .int(replays.count), "ack": intake.ack.json, "rateLimit": intake.limiter?.figures ?? .null,
            "counts": intake.counts.json,
        ]
    }
}
