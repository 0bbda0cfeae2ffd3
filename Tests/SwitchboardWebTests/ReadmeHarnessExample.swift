import AsyncHTTPClient
import Foundation
import NIOCore
import SwitchboardTesting
import Testing

/// A test of a whole system: the file's `dev` profile, every server on a free port, a message
/// published over HTTP, then read back through the console.
@Test func aMessagePublishedOverHTTPIsStored() async throws {
    let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("system.json").path
    let database = NSTemporaryDirectory() + UUID().uuidString + ".sqlite"
    let system = try await SystemHarness.start(file: file, profiles: ["dev"], settings: ["database": database])
    defer { Task { await system.stop() } }

    var post = HTTPClientRequest(url: try await system.url("publish"))
    post.method = .POST
    post.headers.add(name: "Content-Type", value: "application/json")
    post.body = .bytes(ByteBuffer(string: #"{"from": "ann", "text": "hello"}"#))
    let response = try await HTTPClient.shared.execute(post, timeout: .seconds(10))
    #expect(response.status.code == 202)

    let history = await system.console("history -n 1")
    #expect(history.ok && history.text.contains("ann: hello"))
}
