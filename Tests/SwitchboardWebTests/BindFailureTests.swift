import Foundation
import Logging
import Switchboard
import SwitchboardTesting
import SwitchboardWeb
import Testing

/// A port that is taken is said in terms of the setting to change, once.
@Suite struct BindFailureTests {
    @Test func aPortInUseNamesTheSettingAndTheAddress() async throws {
        let first = try await WebHarness.start(#"{"components": {"http": {"type": "http-server", "port": 0}}}"#)
        let port = try #require(try await first.component("http", as: HTTPServerComponent.self).boundPort)
        do {
            let second = try await WebHarness.start(#"{"components": {"web": {"type": "http-server", "port": \#(port)}}}"#, logger: .expectingFailures)
            await second.stop()
            Issue.record("a second server bound port \(port)")
        } catch let failure as StartFailure {
            #expect(failure.component == "web")
            let bind = try #require(failure.error as? BindFailure)
            #expect((bind.component, bind.port, bind.code) == ("web", port, EADDRINUSE))
            #expect(bind.description == "components.web.port: 127.0.0.1:\(port) is already in use (another process listens there: stop it, or choose another port)")
        }
        await first.stop()
    }
}
