import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// What a taken-over connection answers: a direct request's response, a stream (head, chunks,
/// end), a refusal, or a WebSocket upgrade. Everything but `refuse` runs on the event loop.
extension StreamTakeover {
    // MARK: Direct requests

    /// Answers a direct request: at once on the loop when its route needs no waiting, else
    /// in a task; either way with the server's responder's CORS, counts and access log.
    func answerDirect(_ head: HTTPRequestHead, _ http: HTTPRequest, _ context: ChannelHandlerContext) {
        let bytes = body ?? ByteBuffer()
        body = nil
        let request = Request(head: http, body: RequestBody(buffer: bytes))
        let edge = EdgeContext(source: .init(channel: channel, logger: server.runtime.logger))
        let responder = DynamicResponder(server: server)
        switch responder.answerDirect(to: request, body: bytes, context: edge) {
        case .now(let answer)?:
            write(answer, keepAlive: head.isKeepAlive)
        case .later(let make)?:
            respond(keepAlive: head.isKeepAlive, context, make)
        case nil:
            // The route changed since the head came (a reload): the responder answers as it would.
            respond(keepAlive: head.isKeepAlive, context) {
                await DirectAnswer(collecting: (try? await responder.respond(to: request, context: edge)) ?? .error(.internalServerError, "internal error"))
            }
        }
    }

    /// Makes the answer in a task (the route waits), writes it on the loop, then goes on with
    /// the requests that waited behind it, or closes (`keepAlive` false).
    func respond(keepAlive: Bool, _ context: ChannelHandlerContext, _ make: @escaping @Sendable () async -> DirectAnswer) {
        let loop = context.eventLoop
        Task { [self] in
            let answer = await make()
            loop.execute { [self] in write(answer, keepAlive: keepAlive) }
        }
    }

    /// Writes a direct request's answer with its length; then the requests that waited behind
    /// it go on, or the connection closes.
    func write(_ answer: DirectAnswer, keepAlive: Bool) {
        guard let context else { return }
        var fields = answer.headers
        fields[.contentLength] = String(answer.body.readableBytes)
        if !keepAlive || quiescing { fields[.connection] = "close" }
        context.write(wrapOutboundOut(.head(Self.responseHead(answer.status, fields))), promise: nil)
        if answer.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(answer.body))), promise: nil) }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        guard keepAlive, !quiescing, case .answering(let waiting) = state else {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
            return
        }
        state = .passing
        guard !waiting.isEmpty else { return }
        for part in waiting { channelRead(context: context, data: wrapInboundOut(part)) }
        // What went on to Hummingbird is delivered at a read's completion.
        context.fireChannelReadComplete()
    }

    // MARK: The route's side

    /// Answers with `response` (a refusal) and closes the connection.
    func refuse(_ response: Response) async {
        var answer = await DirectAnswer(collecting: response)
        answer.headers[.contentLength] = String(answer.body.readableBytes)
        answer.headers[.connection] = "close"
        channel.eventLoop.execute { [self, answer] in
            guard let context else { return }
            writeHead(answer.status, answer.headers, context)
            context.write(wrapOutboundOut(.body(.byteBuffer(answer.body))), promise: nil)
            bodyBytes += answer.body.readableBytes
            close()
        }
    }

    /// Sends the response head of a stream; `gone` runs once when the client hangs up (at
    /// once if it has already), `writable` whenever a full connection can take more again.
    func open(_ status: HTTPResponse.Status, _ headers: HTTPFields, gone: @escaping () -> Void, writable: @escaping () -> Void) {
        guard let context, !finished else { return gone() }
        self.writable = writable
        if isGone { return gone() }
        self.gone = gone
        // The connection ends with the stream (it carries no other request): say so, so that a
        // client expects the close after the last chunk instead of keeping the connection.
        var headers = headers
        headers[.connection] = "close"
        writeHead(status, headers, context)
    }

    /// Writes a body chunk through the HTTP encoder; the future completes once the socket took it.
    func write(_ chunk: ByteBuffer) -> EventLoopFuture<Void> {
        guard let context, !finished else { return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        bodyBytes += chunk.readableBytes
        return context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk))))
    }

    /// Where bytes go straight to the socket, past the HTTP encoder (which is first in the
    /// pipeline): for ready-made HTTP chunks.
    var front: ChannelHandlerContext? {
        try? channel.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
    }

    /// Ends the response (the last chunk), logs it, and closes the connection. `rawBytes` are
    /// body bytes the stream wrote at the `front`.
    func close(rawBytes: Int = 0) {
        gone = nil
        writable = nil
        guard let context, !finished else { return }
        finished = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        logAnswer(bytes: bodyBytes + rawBytes)
    }

    /// Answers a WebSocket handshake with 101 and `headers`, and hands the connection to NIO's
    /// frame decoder (frames up to the server's `maxWebSocketFrame`) followed by `session`: the
    /// HTTP handlers leave, and the bytes the client sent after its handshake reach the new
    /// ones. False when the client is gone. Runs on the connection's event loop.
    func upgrade(_ headers: HTTPFields, to session: any ChannelHandler) -> Bool {
        guard let context, !finished, !isGone else { return false }
        finished = true
        gone = nil
        writable = nil
        writeHead(.switchingProtocols, headers, context)
        context.flush()
        logAnswer(bytes: 0)
        let ops = context.pipeline.syncOperations
        do {
            // The guard left a watcher for Hummingbird's upgrade, which will not come.
            if let watcher = try? ops.handler(type: UpgradeWatcher.self) { ops.removeHandler(watcher, promise: nil) }
            let decoder = try ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let encoder = try ops.handler(type: HTTPResponseEncoder.self)
            ops.removeHandler(context: context, promise: nil)
            let frames = ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: server.maxWebSocketFrame))
            try ops.addHandlers([frames, session], position: .after(decoder))
            ops.removeHandler(encoder, promise: nil)
            // Last: what the decoder holds past the handshake goes on to the frame decoder.
            ops.removeHandler(decoder, promise: nil)
            return true
        } catch {
            channel.close(promise: nil)
            return false
        }
    }

    private func writeHead(_ status: HTTPResponse.Status, _ fields: HTTPFields, _ context: ChannelHandlerContext) {
        var fields = fields
        server.corsPolicy?.addOriginHeaders(for: origin, to: &fields)
        server.stats.count(status)
        logged?.status = status.code
        context.write(wrapOutboundOut(.head(Self.responseHead(status, fields))), promise: nil)
    }

    /// An HTTP/1.1 response head with `fields`, `Date` and `Server`.
    private static func responseHead(_ status: HTTPResponse.Status, _ fields: HTTPFields) -> HTTPResponseHead {
        var fields = fields
        fields[.date] = HTTPDate.now
        fields[.server] = "switchboard"
        return HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status.code, reasonPhrase: status.reasonPhrase),
                                headers: HTTPHeaders(fields))
    }

    /// Logs the taken-over request once (with the access log on), with `bytes` of body.
    private func logAnswer(bytes: Int) {
        if let l = logged, server.accessLog {
            AccessLog.log(method: l.method, path: l.path, status: l.status, since: l.started, bytes: bytes, logger: server.runtime.logger)
        }
        logged = nil
    }
}

extension DirectAnswer {
    /// `response` with its body read (a small one: an answer to a direct request).
    init(collecting response: Response) async {
        let body = CollectedBody()
        try? await response.body.write(body)
        self.init(status: response.status, headers: response.headers, body: body.buffer)
    }
}

/// A response body read into one buffer (a refusal's few bytes).
final class CollectedBody: ResponseBodyWriter, @unchecked Sendable {
    var buffer = ByteBuffer()

    func write(_ buffer: ByteBuffer) async throws {
        var b = buffer
        self.buffer.writeBuffer(&b)
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

extension HTTPRequestHead {
    /// A request that asks to become a WebSocket (`Upgrade: websocket`).
    var asksForWebSocket: Bool {
        headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
    }
}
