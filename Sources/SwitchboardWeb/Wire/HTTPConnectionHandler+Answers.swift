import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// What a connection answers: a request's response, a refusal, a stream (head, chunks, end) or
/// a WebSocket upgrade — every head through `writeHead`, every request logged once.
extension HTTPConnectionHandler {
    // MARK: Answers

    /// Answers a whole request: on the loop when its route answers without waiting (a direct
    /// route), else in a task; the answer is written on the loop.
    func answer(_ request: Request, body: ByteBuffer, _ context: ChannelHandlerContext) {
        let edge = EdgeContext(source: .init(channel: channel, logger: server.runtime.logger))
        let responder = DynamicResponder(server: server)
        if let outcome = responder.answerDirect(to: request, body: body, context: edge) {
            switch outcome {
            case .now(let answer): return write(answer, context)
            case .later(let make): return later(make)
            }
        }
        later { await DirectAnswer(collecting: await responder.route(request, edge)) }
    }

    /// Makes the answer in a task (the route waits), then writes it on the loop.
    private func later(_ make: @escaping @Sendable () async -> DirectAnswer) {
        let loop = channel.eventLoop
        task = Task { [self] in
            let answer = await make()
            loop.execute { [self] in
                task = nil
                guard let context else { return }
                write(answer, context)
            }
        }
    }

    /// Writes the answer to the request being answered, with its length; then the machine
    /// says what comes next (the requests that waited behind it, or the close).
    func write(_ answer: DirectAnswer, _ context: ChannelHandlerContext) {
        guard case .answering = machine.state else { return }
        let isHead = head?.method == .HEAD
        let written = writeWhole(answer, withBody: !isHead, close: machine.closesAfterAnswer, context)
        logAnswer(bytes: isHead ? 0 : answer.body.readableBytes)
        let next = machine.answered()
        if case .close = next {
            // Once what was written has gone out.
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
            return
        }
        perform(next, context)
    }

    /// A refusal the machine decided on: answered as JSON, then the connection closes.
    func refuse(_ refusal: HTTPConnectionMachine.Refusal, _ context: ChannelHandlerContext) {
        let answer: DirectAnswer
        switch refusal {
        case .badRequest(let why): answer = .error(.badRequest, why)
        case .headersTooLarge: answer = .error(.requestHeaderFieldsTooLarge, "the request head is too large")
        case .timedOut: answer = .error(.requestTimeout, "the request did not arrive in time")
        case .tooLarge(let limit): answer = .error(.contentTooLarge, "request body exceeds the limit of \(limit) bytes", ["limit": .int(limit)])
        case .notUpgradable:
            answer = .error(.badRequest, "\(logged?.path ?? "this path") does not take a WebSocket upgrade", ["reason": "notUpgradable"])
        case .versionNotSupported: answer = .error(.httpVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served here")
        case .expectationFailed: answer = .error(.expectationFailed, "only Expect: 100-continue is understood")
        }
        writeFinal(answer, context)
    }

    /// Writes `answer` with `Connection: close` and closes once it is out.
    private func writeFinal(_ answer: DirectAnswer, _ context: ChannelHandlerContext) {
        guard !finished else { return context.close(promise: nil) }
        finished = true
        let channel = context.channel
        writeWhole(answer, withBody: true, close: true, context).whenComplete { _ in channel.close(promise: nil) }
        logAnswer(bytes: answer.body.readableBytes)
    }

    // MARK: A stream's or handshake's side

    /// Answers a stream's request or a handshake with `response` (a refusal), and closes.
    func refuse(_ response: Response) async {
        let answer = await DirectAnswer(collecting: response)
        channel.eventLoop.execute { [self] in
            guard let context else { return }
            _ = machine.finished()
            writeFinal(answer, context)
        }
    }

    /// Sends the response head of a stream; `gone` runs once when the client hangs up (at
    /// once if it has already), `writable` whenever a full connection can take more again.
    func open(_ status: HTTPResponse.Status, _ headers: HTTPFields, gone: @escaping () -> Void, writable: @escaping () -> Void) {
        guard let context, !finished else { return gone() }
        self.writable = writable
        if isGone { return gone() }
        self.gone = gone
        machine.streamStarted()
        // The connection ends with the stream (it carries no other request): say so, so that a
        // client expects the close after the last chunk instead of keeping the connection.
        writeHead(status, headers, contentLength: nil, close: true, context)
        context.flush()
        dropRequests(context)
    }

    /// Writes a body chunk through the HTTP encoder; the future completes once the socket took it.
    func write(_ chunk: ByteBuffer) -> EventLoopFuture<Void> {
        guard let context, !finished else { return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        bodyBytes += chunk.readableBytes
        return context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk))))
    }

    /// Where bytes go straight to the socket, past the HTTP encoder (which is first in the
    /// pipeline): for ready-made HTTP chunks and whole answers.
    var front: ChannelHandlerContext? {
        try? channel.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
    }

    /// Ends the stream's response (the last chunk), logs it, and closes the connection.
    /// `rawBytes` are body bytes the stream wrote at the `front`.
    func close(rawBytes: Int = 0) {
        gone = nil
        writable = nil
        guard let context, !finished else { return }
        finished = true
        _ = machine.finished()
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        logAnswer(bytes: bodyBytes + rawBytes)
    }

    /// Answers a WebSocket handshake with 101 and `headers`, and hands the connection to NIO's
    /// frame decoder (frames up to `maxWebSocketFrame`) followed by `session`: the HTTP
    /// handlers leave, and the bytes the client sent after its handshake reach the new ones.
    /// False when the client is gone. Runs on the connection's event loop.
    func upgrade(_ headers: HTTPFields, to session: any ChannelHandler) -> Bool {
        guard let context, !finished, !isGone, machine.state == .handshaking else { return false }
        finished = true
        gone = nil
        writable = nil
        writeHead(.switchingProtocols, headers, contentLength: nil, close: false, context)
        context.flush()
        logAnswer(bytes: 0)
        machine.upgraded()
        server.registry.setWaiting(id, false)
        let ops = context.pipeline.syncOperations
        do {
            let decoder = try ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let encoder = try ops.handler(type: HTTPResponseEncoder.self)
            ops.removeHandler(context: context, promise: nil)
            let frames = ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: settings.maxWebSocketFrame))
            try ops.addHandlers([frames, session], position: .after(decoder))
            ops.removeHandler(encoder, promise: nil)
            // Last: what the decoder holds past the handshake goes on to the frame decoder.
            ops.removeHandler(decoder, promise: nil)
            // Reading was held back while the handshake was decided: the session reads now.
            channel.read()
            return true
        } catch {
            channel.close(promise: nil)
            return false
        }
    }

    /// A stream owns the connection: the request decoder gives way to `DropInbound`, so what the
    /// client sends is dropped without being parsed, and an idle stream holds no decoder buffer.
    private func dropRequests(_ context: ChannelHandlerContext) {
        let ops = context.pipeline.syncOperations
        guard let decoder = try? ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) else { return }
        // First the sink, then the decoder: what the decoder still holds lands in the sink.
        try? ops.addHandler(DropInbound(), position: .after(decoder))
        ops.removeHandler(decoder, promise: nil)
    }

    func hangUp() {
        guard !isGone else { return }
        isGone = true
        let gone = self.gone
        self.gone = nil
        gone?()
    }

    // MARK: The one writer of heads

    /// Writes a response head: `fields` with the CORS headers for the request's origin, `Date`,
    /// `Server`, `Content-Length` (when known) and `Connection: close` (when `close`); counts
    /// the status for `inspect` and `/metrics`.
    func writeHead(_ status: HTTPResponse.Status, _ fields: HTTPFields, contentLength: Int?, close: Bool, _ context: ChannelHandlerContext) {
        let fields = headFields(status, fields, contentLength: contentLength, close: close)
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status.code, reasonPhrase: status.reasonPhrase),
                                    headers: HTTPHeaders(fields))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    /// The fields every head carries (see `writeHead`), the status counted and logged.
    private func headFields(_ status: HTTPResponse.Status, _ fields: HTTPFields, contentLength: Int?, close: Bool) -> HTTPFields {
        var fields = fields
        server.corsPolicy?.addOriginHeaders(for: origin, to: &fields)
        fields[.date] = HTTPDate.now
        fields[.server] = "switchboard"
        if let contentLength { fields[.contentLength] = String(contentLength) }
        if close { fields[.connection] = "close" }
        server.stats.count(status)
        logged?.status = status.code
        return fields
    }

    /// Writes a whole answer — head (as `writeHead` makes it) and body — as one buffer at the
    /// `front`, and flushes: one allocation and one write, where NIO's encoder took the head as
    /// `HTTPHeaders` (converted from the fields), then the body and the end as parts, each with
    /// its own pass through the pipeline (about 5 µs of a publish's CPU, profiled). HTTPTypes
    /// has checked every name and value (no CR or LF gets here). The encoder sees none of it:
    /// it holds no state for a response it did not write.
    func writeWhole(_ answer: DirectAnswer, withBody: Bool, close: Bool, _ context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        let fields = headFields(answer.status, answer.headers, contentLength: answer.body.readableBytes, close: close)
        var out = context.channel.allocator.buffer(capacity: 64 + fields.count * 40 + (withBody ? answer.body.readableBytes : 0))
        out.writeStaticString("HTTP/1.1 ")
        out.writeString(String(answer.status.code))
        out.writeStaticString(" ")
        out.writeString(answer.status.reasonPhrase)
        out.writeStaticString("\r\n")
        for field in fields {
            out.writeString(field.name.rawName)
            out.writeStaticString(": ")
            out.writeString(field.value)
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("\r\n")
        if withBody {
            var body = answer.body
            out.writeBuffer(&body)
        }
        guard let front = front else { return context.channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        return front.writeAndFlush(NIOAny(out))
    }

    /// An interim `1xx` head (`100 Continue`): no body, not logged, the request goes on.
    func writeInterim(_ status: HTTPResponseStatus, _ context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status))), promise: nil)
    }

    /// Logs the request once (with the access log on), with `bytes` of body.
    func logAnswer(bytes: Int) {
        if let l = logged, server.accessLog {
            AccessLog.log(method: l.method, path: l.path, status: l.status, since: l.started, bytes: bytes, logger: server.runtime.logger)
        }
        logged = nil
    }
}

extension DirectAnswer {
    /// `response` with its body read (what an ordinary route answers is built in memory).
    init(collecting response: Response) async {
        let body = CollectedBody()
        try? await response.body.write(body)
        self.init(status: response.status, headers: response.headers, body: body.buffer)
    }
}

/// A response body read into one buffer.
final class CollectedBody: ResponseBodyWriter, @unchecked Sendable {
    var buffer = ByteBuffer()

    func write(_ buffer: ByteBuffer) async throws {
        var b = buffer
        self.buffer.writeBuffer(&b)
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// Takes the request decoder's place on a connection a stream owns: the bytes the client
/// sends are dropped; events — the client's half-close, the connection's end — go on.
final class DropInbound: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
