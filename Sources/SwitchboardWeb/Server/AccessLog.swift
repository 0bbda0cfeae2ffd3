import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// An http-server's access log (`"accessLog": true`): one line per request once its response
/// is written — method, path (never the query string, where tokens travel), status, duration
/// and body bytes — at info level, through the server's logger (so `--log-format json` makes
/// each one a JSON object).
enum AccessLog {
    static func wrap(_ response: Response, _ request: Request, since started: ContinuousClock.Instant, logger: Logger) -> Response {
        var response = response
        let body = response.body
        let method = request.method.rawValue
        let path = request.uri.path
        let status = response.status.code
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            let bytes = ByteCount()
            defer { log(method: method, path: path, status: status, since: started, bytes: bytes.value.load(ordering: .relaxed), logger: logger) }
            try await body.write(CountingWriter(inner: writer, bytes: bytes))
        }
        return response
    }

    /// The line of one request.
    static func log(method: String, path: String, status: Int, since started: ContinuousClock.Instant, bytes: Int, logger: Logger) {
        let ms = (ContinuousClock.now - started) / .milliseconds(1)
        logger.info("\(method) \(path) \(status)", metadata: [
            "method": "\(method)", "path": "\(path)", "status": "\(status)",
            "durationMs": "\((ms * 1000).rounded() / 1000)", "bytes": "\(bytes)",
        ])
    }

    final class ByteCount: Sendable {
        let value = Atomic<Int>(0)
    }

    struct CountingWriter: ResponseBodyWriter {
        var inner: any ResponseBodyWriter
        let bytes: ByteCount

        mutating func write(_ buffer: ByteBuffer) async throws {
            bytes.value.add(buffer.readableBytes, ordering: .relaxed)
            try await inner.write(buffer)
        }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
            try await inner.finish(trailingHeaders)
        }
    }
}
