import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard

extension Response {
    /// A response whose body is `json`.
    public static func json(_ status: HTTPResponse.Status, _ json: JSONValue, headers: HTTPFields = [:]) -> Response {
        DirectAnswer.json(status, json, headers: headers).response
    }

    /// A 4xx/5xx response with `{"error": reason, …details}`.
    public static func error(_ status: HTTPResponse.Status, _ reason: String, _ details: JSONObject = JSONObject(), headers: HTTPFields = [:]) -> Response {
        json(status, JSONValue.errorBody(status, reason, details), headers: headers)
    }
}

extension Request {
    /// The query parameter `name`, percent-decoded.
    public func query(_ name: String) -> String? {
        uri.queryParameters.get(name)
    }

    /// The media type of the body without parameters, lowercased (`application/json`).
    public var mediaType: String? {
        headers[.contentType].map(Self.mediaType(of:))
    }

    /// The part of a `Content-Type` value before its parameters, trimmed and lowercased.
    static func mediaType(of value: String) -> String {
        let type = value.utf8.firstIndex(of: UInt8(ascii: ";")).map { value[..<$0] } ?? value[...]
        let trimmed = type.trimmingSpaces()
        // Nearly every client sends it lowercased already.
        return trimmed.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? trimmed.lowercased() : trimmed
    }
}

/// Reading a request body with a size limit.
public enum BodyLimit {
    /// The body did not fit.
    public struct TooLarge: Error {}

    /// Collects the whole body, throwing `TooLarge` past `limit` bytes (before reading it all
    /// when the client declared a larger `Content-Length`).
    public static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit { throw TooLarge() }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw TooLarge()
        }
    }
}
