// nio-floor: the least a SwiftNIO server does for one published message, to measure Switchboard
// against (`sse-load --floor`). It serves what sse-load drives — `GET /events` (a stream of
// `id:`/`data:` events) and `POST /messages` (the body becomes an event to every subscriber,
// answered 202 with the id) — with nothing else: one event loop, no Swift concurrency, no
// routing, no JSON, no checks. Not a server to use: it trusts its client.
//
//   nio-floor http1 PORT   SwiftNIO's own HTTP/1 pipeline (llhttp decoder, response encoder)
//   nio-floor raw PORT     bytes straight off the socket: the head split at CRLFCRLF, only
//                          Content-Length read — what a parser of one's own on NIO would cost;
//                          `GET /ws` upgrades to a WebSocket that gets each body as a text frame
import NIOCore
import NIOHTTP1
import NIOPosix

/// The subscribers and the message count; touched only on the one event loop.
final class Board: @unchecked Sendable {
    var subscribers: [ObjectIdentifier: any Channel] = [:]
    /// WebSocket subscribers (`raw` only).
    var webSockets: [ObjectIdentifier: any Channel] = [:]
    var next = 0

    /// `data` as one event to every subscriber (a text frame to a WebSocket one, made once); the
    /// new message's id.
    func publish<Part: Sendable>(_ data: ByteBufferView, frame: (ByteBuffer) -> Part) -> Int {
        next += 1
        var event = ByteBuffer()
        event.writeString("id: \(next)\ndata: ")
        event.writeBytes(data)
        event.writeString("\n\n")
        for channel in subscribers.values { channel.writeAndFlush(frame(event), promise: nil) }
        if !webSockets.isEmpty {
            var text = ByteBuffer()
            text.writeInteger(UInt8(0x81))  // FIN, text
            if data.count < 126 {
                text.writeInteger(UInt8(data.count))
            } else if data.count <= 0xFFFF {
                text.writeInteger(UInt8(126))
                text.writeInteger(UInt16(data.count))
            } else {
                text.writeInteger(UInt8(127))
                text.writeInteger(UInt64(data.count))
            }
            text.writeBytes(data)
            for channel in webSockets.values { channel.writeAndFlush(text, promise: nil) }
        }
        return next
    }
}

let board = Board()

/// Over NIO's HTTP/1 server pipeline.
final class HTTP1Handler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
        case .body(var b):
            body.writeBuffer(&b)
        case .end:
            guard let head else { return }
            if head.method == .GET {
                var h = HTTPHeaders()
                h.add(name: "Content-Type", value: "text/event-stream")
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: h))), promise: nil)
                board.subscribers[ObjectIdentifier(context.channel)] = context.channel
                return
            }
            let id = board.publish(body.readableBytesView) { HTTPServerResponsePart.body(.byteBuffer($0)) }
            let answer = ByteBuffer(string: #"{"id":"\#(id)","status":"accepted"}"#)
            var h = HTTPHeaders()
            h.add(name: "Content-Type", value: "application/json")
            h.add(name: "Content-Length", value: String(answer.readableBytes))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .accepted, headers: h))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(answer))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        board.subscribers[ObjectIdentifier(context.channel)] = nil
    }
}

/// Bytes off the socket: a request is its head up to CRLFCRLF and Content-Length bytes of body.
final class RawHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var pending = ByteBuffer()
    private static let end: [UInt8] = Array("\r\n\r\n".utf8)
    private static let length: [UInt8] = Array("content-length:".utf8)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        pending.writeBuffer(&bytes)
        while let (headLength, bodyLength, isGet) = Self.request(in: pending.readableBytesView), pending.readableBytes >= headLength + bodyLength {
            if isGet, pending.readableBytesView.prefix(headLength).starts(with: Array("GET /ws ".utf8)) {
                // The accept value of the one key sse-load sends (RFC 6455's sample): this floor
                // trusts its client, and a handshake is not what it measures.
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string:
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")), promise: nil)
                board.webSockets[ObjectIdentifier(context.channel)] = context.channel
            } else if isGet {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")), promise: nil)
                board.subscribers[ObjectIdentifier(context.channel)] = context.channel
            } else {
                let body = pending.readableBytesView.dropFirst(headLength).prefix(bodyLength)
                let id = board.publish(body) { $0 }
                let answer = #"{"id":"\#(id)","status":"accepted"}"#
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string:
                    "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: \(answer.utf8.count)\r\n\r\n\(answer)")), promise: nil)
            }
            pending.moveReaderIndex(forwardBy: headLength + bodyLength)
        }
        pending.discardReadBytes()
    }

    func channelInactive(context: ChannelHandlerContext) {
        board.subscribers[ObjectIdentifier(context.channel)] = nil
        board.webSockets[ObjectIdentifier(context.channel)] = nil
    }

    /// The head's length (CRLFCRLF included), the body's, and whether it is a GET.
    static func request(in bytes: ByteBufferView) -> (Int, Int, Bool)? {
        let b = Array(bytes)
        guard b.count >= 4, let e = (0...(b.count - 4)).first(where: { b[$0] == 13 && b[$0 + 1] == 10 && b[$0 + 2] == 13 && b[$0 + 3] == 10 }) else { return nil }
        var bodyLength = 0
        var i = 0
        while i < e {
            // At the start of a line: is it Content-Length?
            if i + length.count <= e, zip(b[i..<(i + length.count)], length).allSatisfy({ $0 | 0x20 == $1 }) {
                var j = i + length.count
                while j < e, b[j] == 32 { j += 1 }
                while j < e, b[j] >= 48, b[j] <= 57 { bodyLength = bodyLength * 10 + Int(b[j] - 48); j += 1 }
            }
            while i < e, b[i] != 10 { i += 1 }
            i += 1
        }
        return (e + 4, bodyLength, b.starts(with: Array("GET ".utf8)))
    }
}

let args = CommandLine.arguments
guard args.count == 3, let port = Int(args[2]), args[1] == "http1" || args[1] == "raw" else {
    print("usage: nio-floor http1|raw PORT")
    exit(2)
}
let raw = args[1] == "raw"
// sse-load stops its servers with SIGTERM, which may come ignored or blocked from the parent.
signal(SIGTERM, SIG_DFL)
var term = sigset_t()
sigemptyset(&term)
sigaddset(&term, SIGTERM)
pthread_sigmask(SIG_UNBLOCK, &term, nil)
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            if raw {
                try channel.pipeline.syncOperations.addHandler(RawHandler())
            } else {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
                try channel.pipeline.syncOperations.addHandler(HTTP1Handler())
            }
        }
    }
    .bind(host: "127.0.0.1", port: port).wait()
try server.closeFuture.wait()
