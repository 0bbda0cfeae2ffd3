import HTTPTypes
import Switchboard
import SwitchboardTesting
import SwitchboardWeb
import Testing

/// The chat page as served: its icon, its empty state and its fonts.
@Suite struct PageTests {
    @Test func thePageHasAnIconAnEmptyStateAndEmojiFonts() async throws {
        let h = try await WebHarness.start(#"""
            {"components": {
              "http": {"type": "http-server", "port": 0},
              "page": {"type": "page", "using": {"server": "http"}},
              "other": {"type": "page", "path": "/chat", "using": {"server": "http"}}
            }}
            """#)
        let server = try await h.component("http", as: HTTPServerComponent.self)
        let page = try await InProcess.respond(server, .get, "/")
        #expect(page.status == 200)
        #expect(page.body.contains(#"<link rel="icon" type="image/svg+xml" href="/favicon.ico">"#))
        #expect(page.body.contains(#"<li class="notice" id="empty">No messages yet."#))
        #expect(page.body.contains(#""Noto Color Emoji""#))
        // Browsers ask for /favicon.ico by themselves: it is there, not a 404.
        let icon = try await InProcess.respond(server, .get, "/favicon.ico")
        #expect(icon.status == 200)
        #expect(icon.headers[.contentType] == "image/svg+xml")
        #expect(icon.body.hasPrefix("<svg"))
        // A second page elsewhere serves its icon beside it.
        let other = try await InProcess.respond(server, .get, "/chat")
        #expect(other.body.contains(#"href="/chat/favicon.ico""#))
        #expect(try await InProcess.respond(server, .get, "/chat/favicon.ico").status == 200)
        await h.stop()
    }
}
