import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import Switchboard
import SwitchboardChannels
import Synchronization

/// The `publish` endpoint: `POST` a message (JSON, form or plain text) onto a channel.
///
/// `202 {"id": …}` when accepted (with `"ack": "stored"`, once the store in the `store` slot
/// has committed it); `503` with `Retry-After` when the channel stays full for `wait` or the
/// store could not commit; `400` with a JSON reason for bad input, `415` for an unsupported
/// body type, `413` when the body is too large.
public final class PublishEndpoint: HTTPEndpoint {
    struct Config {
        var path: String
        var wait: Duration
        var maxBodySize: Int?
        var defaultFrom: String

        init(_ context: ComponentContext) {
            path = context.routePath(default: "/messages")
            wait = context.config.duration("wait", default: .seconds(2))
            maxBodySize = context.config.int("maxBodySize", in: 1...1_073_741_824)
            defaultFrom = context.config.string("defaultFrom", default: "anonymous")
            context.claimRoute("POST", path)
        }
    }

    public let mount: EndpointMount
    private let channel: Dependency<any MessageSink>
    private let config: Config
    private let intake: Intake
    private let auth: EdgeAuth
    private let duration: DurationHistogram

    init(_ context: ComponentContext) {
        mount = EndpointMount(context)
        channel = context.dependency("channel", as: (any MessageSink).self, "the channel messages are put on")
        config = Config(context)
        intake = Intake(context, defaultRoom: Message.defaultRoom)
        auth = EdgeAuth(context)
        duration = HotPathMetrics.publishDuration(component: context.name)
    }

    /// The component type.
    public static let type = ComponentType(
        "publish", summary: "POST /messages: JSON, form or text onto a channel (202 with the message id)."
    ) { PublishEndpoint($0) }

    public func start() async throws {
        let sink = try channel.get()
        let server = try mount.server.get()
        let limit = config.maxBodySize ?? (server as? HTTPServerComponent)?.requestBodyLimit ?? 1_048_576
        auth.announce()
        // Answered on its connection: at once on the event loop when nothing has to wait.
        let direct: @Sendable (Request, ByteBuffer, EdgeContext) -> DirectOutcome = { [self] request, body, context in
            timed(.now, publish(request, body: body, limit: limit, to: sink, client: context.channel.clientAddress))
        }
        try mount.mount([HTTPRoute(.post, config.path, direct: direct) { [self] request, context in
            let started = ContinuousClock.now
            let outcome: DirectOutcome
            do {
                let body = try await BodyLimit.collect(request, limit: limit)
                outcome = publish(request, body: body, limit: limit, to: sink, client: context.channel.clientAddress)
            } catch is BodyLimit.TooLarge {
                outcome = .now(tooLarge(limit))
            } catch {
                count(.rejected)
                outcome = .now(.error(.badRequest, "the request body could not be read (malformed chunked encoding?)"))
            }
            return await timed(started, outcome).answer.response
        }])
    }

    /// `outcome`, recording how long it took since `started` once it is answered.
    private func timed(_ started: ContinuousClock.Instant, _ outcome: DirectOutcome) -> DirectOutcome {
        outcome.map { [duration] answer in
            duration.record(ContinuousClock.now - started)
            return answer
        }
    }

    private func tooLarge(_ limit: Int) -> DirectAnswer {
        count(.tooLarge)
        return .error(.contentTooLarge, "the body exceeds the limit of \(limit) bytes")
    }

    /// Refuses new messages (503 + `Retry-After`) while the system drains before a stop.
    public func drain(until deadline: ContinuousClock.Instant) async {
        mount.drain()
    }

    private func count(_ key: InputCount) { intake.counts.count(key) }

    /// Publishes the message in `body`: answered at once when nothing has to wait (no token to
    /// check, room on the channel, no store's commit to wait for), else later.
    func publish(_ request: Request, body: ByteBuffer, limit: Int, to sink: any MessageSink, client: String) -> DirectOutcome {
        guard body.readableBytes <= limit else { return .now(tooLarge(limit)) }
        guard auth.isOn else { return accept(request, body, identity: nil, to: sink, client: client) }
        // After the body is read: answering before it would cut the client off mid-request.
        return .later { [self] in
            var identity: Identity?
            switch await auth.identify(request) {
            case .failure(let why)?:
                count(.unauthorized)
                return .unauthorized(why)
            case .success(let who)?: identity = who
            case nil: break
            }
            return await accept(request, body, identity: identity, to: sink, client: client).answer
        }
    }

    /// Checks the message and puts it: at once if the channel has room (with `"ack": "accepted"`).
    private func accept(_ request: Request, _ body: ByteBuffer, identity: Identity?, to sink: any MessageSink, client: String) -> DirectOutcome {
        var parts: MessageInput.Parts
        do {
            parts = try MessageInput.parse(body, mediaType: request.mediaType, query: request.query, maxTextLength: .max)
        } catch {
            count(.rejected)
            return .now(Self.answer(error))
        }
        if let refusal = intake.admit(&parts, identity: identity, client: client) { return .now(Self.answer(refusal)) }
        let message = parts.message(defaultFrom: config.defaultFrom)
        if let outcome = intake.offer(message, on: sink) { return .now(answer(outcome, for: message)) }
        return .later { [self] in answer(await intake.put(message, on: sink, wait: config.wait), for: message) }
    }

    /// The answer to a body that is not a message.
    private static func answer(_ problem: MessageInput.Problem) -> DirectAnswer {
        switch problem {
        case .badJSON(let why): .error(.badRequest, "bad JSON: \(why)")
        case .missingText: .error(.badRequest, "missing text")
        case .jsonSentAsForm:
            .error(.badRequest, "this looks like JSON, sent as a form: send Content-Type: application/json (curl -d sends a form; add -H 'Content-Type: application/json', or use --json)",
                   ["reason": "jsonSentAsForm"])
        case .invalid(let why): .error(.badRequest, why)
        case .textTooLong(let n, let limit): answer(.textTooLong(bytes: n, limit: limit))
        case .unsupportedType(let t):
            .error(.unsupportedMediaType, "unsupported content type \(t)", ["supported": ["application/json", "application/x-www-form-urlencoded", "text/plain"]])
        }
    }

    /// The answer to a message the intake refused.
    static func answer(_ refusal: Intake.Refusal) -> DirectAnswer {
        switch refusal {
        case .spoofedFrom(let claimed, let token):
            .error(.badRequest, "\"from\" is \"\(claimed)\" but the token is \(token)'s: leave \"from\" out", ["reason": "spoofedFrom"])
        case .forbiddenRoom(let user, let room):
            .error(.forbidden, "\(user) may not publish to \(room)", ["reason": "forbiddenRoom", "room": .string(room)])
        case .textTooLong(let n, let limit):
            .error(.contentTooLarge, "the text is \(n) bytes; the limit is \(limit) (maxTextLength)", ["limit": .int(limit)])
        case .rateLimited(let wait, let config):
            .rateLimited(wait, config)
        }
    }

    /// The answer to a put of `message`.
    private func answer(_ outcome: Acknowledger.Outcome, for message: Message) -> DirectAnswer {
        switch outcome {
        case .stored(let id):
            return .json(.accepted, ["id": .string(id.description), "status": "stored"])
        case .notStored(let why, let delivered):
            var h = HTTPFields()
            h[.retryAfter] = "5"
            return .error(.serviceUnavailable, "not stored: \(why)" + Acknowledger.deliveredNote(delivered),
                          ["id": .string(message.id.description), "delivered": delivered.map(JSONValue.bool) ?? .null], headers: h)
        case .put(.accepted):
            return .json(.accepted, ["id": .string(message.id.description), "status": "accepted"])
        case .put(.dropped):
            return .json(.accepted, ["id": .string(message.id.description), "status": "dropped"])
        case .put(.wouldBlock):
            let retry = max(1, Int((config.wait.milliseconds / 1000).rounded(.up)))
            var h = HTTPFields()
            h[.retryAfter] = String(retry)
            return .error(.serviceUnavailable, "the channel is full; try again later", ["retryAfter": .int(retry)], headers: h)
        case .put(.closed):
            var h = HTTPFields()
            h[.retryAfter] = "5"
            return .error(.serviceUnavailable, "the channel is not running", headers: h)
        }
    }

    public func inspect() async -> JSONValue {
        [
            "path": .string(config.path), "channel": .string(channel.target), "wait": .string(config.wait.short), "ack": intake.ack.json,
            "rateLimit": intake.limiter?.figures ?? .null, "counts": intake.counts.json,
        ]
    }
}
