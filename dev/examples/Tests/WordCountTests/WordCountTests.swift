import AsyncHTTPClient
import Foundation
import NIOCore
import Switchboard
import SwitchboardCLI
import SwitchboardTesting
import Testing
import WordCount

/// The package's system, started by `SystemHarness` as a user's tests would.
@Suite struct WordCountTests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("system.json").path

    func publish(_ system: SystemHarness, _ json: String) async throws -> UInt {
        var post = HTTPClientRequest(url: try await system.url("chat.publish"))
        post.method = .POST
        post.headers.add(name: "Content-Type", value: "application/json")
        post.body = .bytes(ByteBuffer(string: json))
        return try await HTTPClient.shared.execute(post, timeout: .seconds(10)).status.code
    }

    @Test func wordsPublishedOverHTTPAreCountedPerRoom() async throws {
        let system = try await SystemHarness.start(file: Self.file, settings: ["minLength": "4"], registry: .withWordCount(.standard))
        defer { Task { await system.stop() } }
        // The module expanded, the variable in place.
        #expect(system.spec.components.map(\.name).contains("chat.counter"))
        #expect(system.spec.component("chat.counter")?.config["minLength"] == 4)

        #expect(try await publish(system, #"{"from": "ann", "text": "hello hello world, say hello"}"#) == 202)
        #expect(try await publish(system, #"{"from": "bob", "text": "deploy done", "room": "ops"}"#) == 202)
        let counter = try await system.component("chat.counter", as: WordCounter.self)
        for _ in 0..<500 where (await counter.inspect())["messages"] != 2 { try await Task.sleep(for: .milliseconds(10)) }

        let words = await system.console("words -n 2")
        #expect(words.ok, "\(words.payload)")
        #expect(words.text.contains("lobby: hello 3, world 1"))
        #expect(words.text.contains("ops: deploy 1, done 1"))
        // Every component with the command answers, by name.
        #expect(words.data["chat.counter"]?["lobby"]?[0]?["word"] == "hello", "\(words.data)")
        #expect(await system.console("words -n x").payload["reason"] == "usage")
        let status = await system.console("inspect chat.counter")
        #expect(status.data["figures"]?["wordsByRoom"]?["lobby"] == 4)
    }
}
