import Foundation
import HTTPTypes
import Logging
import Switchboard
import SwitchboardTesting
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// Replays, refused deliveries and oversized signatures at webhook-in.
@Suite struct WebhookHardeningTests {
    let base = WebhookInTests()

    func post(_ server: HTTPServerComponent, _ headers: HTTPFields, _ body: String) async throws -> Int {
        try await InProcess.respond(server, .post, "/webhooks/hook", headers: headers, body: body).status
    }

    @Test func aRefusedBodyDoesNotSpendItsDeliveryID() async throws {
        try await base.with(WebhookInTests.system()) { (server: HTTPServerComponent, inbox: ChannelComponent) async throws in
            // Signed, but not JSON: 400. The sender fixes it and retries with the same id.
            #expect(try await post(server, base.signed("not json", id: "msg_fixed"), "not json") == 400)
            #expect(try await post(server, base.signed(WebhookInTests.event, id: "msg_fixed"), WebhookInTests.event) == 202)
            #expect(try inbox.currentChan().poll()?.text == "deployed :)")
            // Now it is a duplicate.
            #expect(try await post(server, base.signed(WebhookInTests.event, id: "msg_fixed"), WebhookInTests.event) == 200)
        }
    }

    @Test func anIDIsRememberedAsLongAsItsFutureTimestampIsValid() {
        let guardian = ReplayGuard(window: .seconds(300))
        let now = Date()
        let future = now.addingTimeInterval(290)  // accepted: within the tolerance
        #expect(guardian.begin("msg_future", now: now) == .fresh)
        guardian.accept("msg_future", timestamp: future, now: now)
        // Past the tolerance from the time it arrived, but its timestamp is still valid.
        let later = now.addingTimeInterval(500)
        #expect(guardian.begin("msg_future", now: later) == .duplicate)
        #expect(guardian.begin("msg_future", now: future.addingTimeInterval(301)) == .fresh)
        // Two requests with one id at once: the second is told to come back.
        #expect(guardian.begin("msg_twice", now: now) == .fresh)
        #expect(guardian.begin("msg_twice", now: now) == .inFlight)
        guardian.abandon("msg_twice")
        #expect(guardian.begin("msg_twice", now: now) == .fresh)
    }

    @Test func theReplayMemoryIsBoundedAgainstAFloodAndFarFutureTimestamps() {
        let guardian = ReplayGuard(window: .seconds(300), limit: 100)
        let now = Date()
        for i in 0..<1000 {
            #expect(guardian.begin("msg_\(i)", now: now) == .fresh)
            guardian.accept("msg_\(i)", now: now.addingTimeInterval(Double(i) / 1000))
        }
        #expect(guardian.count <= 101, "\(guardian.count) ids kept")
        // The newest are the ones kept.
        #expect(guardian.begin("msg_999", now: now) == .duplicate)
        // A timestamp a century ahead (an unverified endpoint lets it through) pins nothing.
        _ = guardian.begin("msg_far", now: now)
        guardian.accept("msg_far", timestamp: now.addingTimeInterval(3e9), now: now)
        #expect(guardian.begin("msg_far", now: now.addingTimeInterval(601)) == .fresh)
    }

    @Test func theReplayMemorySurvivesARestartInAReload() async throws {
        let h = try await WebHarness.start(WebhookInTests.system())
        let server = try await h.component("http", as: HTTPServerComponent.self)
        let headers = base.signed(WebhookInTests.event, id: "msg_across_reload")
        #expect(try await post(server, headers, WebhookInTests.event) == 202)
        // A change that restarts webhook-in (maxBodySize is not updatable in place).
        let changed = WebhookInTests.system().replacingOccurrences(of: #""maxBodySize": 256"#, with: #""maxBodySize": 512"#)
        let built = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests).load(text: changed, wiring: h.map.sharedWiring)
        let outcome = await h.map.reload(to: built)
        #expect(outcome.ok)
        #expect(outcome.plan.entries.contains { $0.name == "hook" && $0.action == .restart })
        #expect(try await post(server, headers, WebhookInTests.event) == 200)
        await h.stop()
    }

    @Test func thousandsOfSignaturesAreRefusedBeforeAnyHMAC() async throws {
        try await base.with(WebhookInTests.system()) { (server: HTTPServerComponent, _: ChannelComponent) async throws in
            var headers = base.signed(WebhookInTests.event, id: "msg_many")
            let valid = headers[HTTPField.Name("webhook-signature")!]!
            let bogus = "v1," + Data(repeating: 7, count: 32).base64EncodedString()
            headers[HTTPField.Name("webhook-signature")!] = Array(repeating: bogus, count: 20).joined(separator: " ") + " " + valid
            #expect(try await post(server, headers, WebhookInTests.event) == 400)
            headers[HTTPField.Name("webhook-signature")!] = Array(repeating: bogus, count: 9000).joined(separator: " ")
            // Refused from the header alone: the body is never hashed 9,000 times.
            let refused = try await InProcess.respond(server, .post, "/webhooks/hook", headers: headers, body: WebhookInTests.event)
            #expect(refused.status == 400)
            #expect(refused.body.contains("longer than"))
            // Key rotation (a few signatures, the valid one last) still works.
            headers[HTTPField.Name("webhook-signature")!] = "\(bogus) \(bogus) \(valid)"
            #expect(try await post(server, headers, WebhookInTests.event) == 202)
        }
    }
}
