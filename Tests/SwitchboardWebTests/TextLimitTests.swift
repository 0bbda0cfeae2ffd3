import HTTPTypes
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// Long texts: refused with a reason at every input, and transforms that stay linear.
@Suite struct TextLimitTests {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 4},
          "http": {"type": "http-server", "port": 0},
          "publish": {"type": "publish", "maxTextLength": 100, "using": {"server": "http", "channel": "inbox"}},
          "hook": {"type": "webhook-in", "verify": "none", "maxTextLength": 100, "using": {"server": "http", "channel": "inbox"}},
          "ws": {"type": "websocket", "maxTextLength": 100, "using": {"server": "http", "source": "m", "channel": "inbox"}},
          "side": {"type": "channel", "buffer": 1},
          "m": {"type": "mult", "using": {"source": "side"}}
        }}
        """#

    @Test func aTextOverMaxTextLengthIsRefusedWithAReason() async throws {
        let h = try await WebHarness.start(Self.system)
        let server = try await h.component("http", as: HTTPServerComponent.self)
        let long = String(repeating: "a", count: 101)
        let p = try await InProcess.respond(server, .post, "/messages", headers: [.contentType: "text/plain"], body: long)
        #expect(p.status == 413)
        #expect(p.body.contains("maxTextLength"))
        #expect(try await InProcess.respond(server, .post, "/messages", headers: [.contentType: "text/plain"], body: String(long.dropLast())).status == 202)
        let w = try await InProcess.respond(server, .post, "/webhooks/hook", headers: [.contentType: "application/json"], body: #"{"text": "\#(long)"}"#)
        #expect(w.status == 413)
        let ws = try await h.component("ws", as: WebSocketEndpoint.self)
        var name: String? = "ann"
        let reply = await ws.handle(.text(#"{"text": "\#(long)"}"#), name: &name, sink: try await h.component("inbox", as: ChannelComponent.self))
        #expect(reply["type"] == "error")
        #expect(reply["error"]?.stringValue?.contains("maxTextLength") == true)
        await h.stop()
    }

    /// Text built to make a quadratic walk show: an unclosed fence before thousands of code
    /// spans (each span's offset once took a count of everything before it). The time it
    /// takes is measured by the benchmark (`chan-bench transforms`), not here.
    @Test func chatTransformsHandleAdversarialText() throws {
        let chain = Transform.chain([
            ChatTransforms.censor(words: ["darn"]), ChatTransforms.autocorrect(ChatTransforms.defaultCorrections),
            ChatTransforms.emoticons(ChatTransforms.defaultEmoticons), ChatTransforms.code(),
        ])
        let text = "```" + String(repeating: "`a` teh :) ", count: 20_000)
        let out = chain.apply(to: [Message(from: "t", text: text)])
        let m = try #require(out.first)
        #expect(m.spans.count == 20_000)
        #expect(m.spans.last?.start == 3 + 19_999 * "a the 🙂 ".utf16.count)
        #expect(m.text.hasPrefix("```a the 🙂 a the"))
    }
}
