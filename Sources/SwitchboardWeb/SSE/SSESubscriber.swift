import NIOCore

/// One SSE client: a `StreamSubscriber` whose events are HTTP chunks of `text/event-stream`.
typealias SSESubscriber = StreamSubscriber<SSEEvent>

extension SSEEvent: StreamEvent {}

/// How an SSE subscriber writes: ready-made HTTP chunks at the front of the pipeline (the
/// context of the first handler after the socket), past the HTTP encoder, whose only work on a
/// body part would be the same chunk framing; the response's head and end still go through it,
/// before and after (the end when the stream's `whenEnded` closes the response).
final class SSEFraming: StreamFraming {
    private let socket: ChannelHandlerContext
    /// The endpoint's `retry` (ms): a stream that the endpoint ends says to come back after
    /// between one and two of it, so that the clients spread out.
    private let retry: Int

    init(socket: ChannelHandlerContext, retry: Int) {
        self.socket = socket
        self.retry = retry
    }

    func send(_ bytes: ByteBuffer) {
        socket.writeAndFlush(NIOAny(bytes), promise: nil)
    }

    func keepAlive() -> Int {
        socket.writeAndFlush(NIOAny(SSEEvent.heartbeat.framed), promise: nil)
        return SSEEvent.heartbeat.framed.readableBytes
    }

    func close() {
        let wait = retry + Int.random(in: 0...max(retry, 1))
        socket.writeAndFlush(NIOAny(SSEEvent(id: nil, room: "", text: "retry: \(wait)\n\n").framed), promise: nil)
    }
}
