import ArgumentParser
import Foundation
import Switchboard
import SwitchboardWeb

/// `switchboard token`: a token for development, signed with the system's HMAC key.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a JWT for a user, signed with the HS256 key of the system's auth component (for development).",
        discussion: "Example: switchboard token --sub alice --rooms 'lobby,dev-*' --ttl 1h system.json"
    )

    @Option(help: "The user's name (the token's sub).")
    var sub: String

    @Option(help: "The rooms the user may use, comma-separated; * patterns allowed.")
    var rooms = "*"

    @Option(help: "How long the token is good for (30s, 15m, 1h, 7d).")
    var ttl = "1h"

    @Option(help: "The auth component to sign for (default: the only one).")
    var auth: String?

    @OptionGroup var system: SystemOptions

    func run() async throws {
        let ttl: Duration
        switch ConfigReader.parseDuration(text: self.ttl) {
        case .success(let d) where d > .zero: ttl = d
        case .success: throw ValidationError("--ttl must be longer than 0s")
        case .failure(let problem): throw ValidationError("--ttl: \(problem)")
        }
        let system = try await self.system.loadOrExit()
        let candidates = system.spec.components.filter { $0.type == "auth" && (auth == nil || $0.name == auth) }
        guard candidates.count == 1, let name = candidates.first?.name, let component = system.instances[name] as? AuthComponent else {
            let all = system.spec.components.filter { $0.type == "auth" }.map(\.name)
            // Not a usage mistake: the error alone, without the command's usage after it.
            LogOutput.write("error: " + (all.isEmpty
                ? "\(self.system.file) has no auth component: a token is signed with an auth component's key (see the guide's Identity article)\n"
                : "name the auth component with --auth (one of: \(all.joined(separator: ", ")))\n"), to: STDERR_FILENO)
            throw ExitCode.failure
        }
        let list = rooms.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        do {
            print(try await component.mint(sub: sub, rooms: list, ttl: ttl))
        } catch {
            LogOutput.write("error: \(name): \(error)\n", to: STDERR_FILENO)
            throw ExitCode.failure
        }
    }
}
