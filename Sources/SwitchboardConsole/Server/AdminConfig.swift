import Foundation
import Switchboard

/// The `admin` section of `system.json`: where the console socket lives and who may use it.
///
/// ```json
/// "admin": { "socket": ".switchboard/admin.sock", "idleTimeout": "30m", "allowUids": [1001] }
/// ```
///
/// `allowUids` is the gate (checked on every connection with SO_PEERCRED); `mode` and
/// `group` only narrow who reaches the socket file, as HAProxy's `stats socket … mode group`.
public struct AdminConfig: Sendable {
    /// The socket's path (relative paths are relative to the system file's directory).
    public var socketPath: String
    /// How long a console may sit idle before it is detached.
    public var idleTimeout: Duration
    /// Users (besides the server's own and root) allowed to attach.
    public var allowedUIDs: Set<UInt32>
    /// Whether to listen at all.
    public var enabled: Bool
    /// The socket file's mode: 0600, or 0666 when `allowUids` lets others in (0660 with a group).
    public var mode: mode_t?
    /// The group the socket file is given, if any.
    public var group: gid_t?

    /// Whether users other than the server's own must be able to reach the socket.
    var reachableByOthers: Bool { !allowedUIDs.isEmpty }

    /// The mode the socket file gets.
    var socketMode: mode_t { mode ?? (allowedUIDs.isEmpty ? 0o600 : group == nil ? 0o666 : 0o660) }

    /// Reads the section (problems go to the reader).
    public init(_ c: ConfigReader?) {
        socketPath = c?.string("socket", default: ".switchboard/admin.sock") ?? ".switchboard/admin.sock"
        idleTimeout = c?.duration("idleTimeout", default: .seconds(1800)) ?? .seconds(1800)
        allowedUIDs = Set((c?.array("allowUids") ?? []).compactMap { p, v in
            guard let i = v.intValue, i >= 0, i <= Int(UInt32.max) else {
                c?.issue(.wrongType, at: p, "expected a user id (a non-negative integer)")
                return nil
            }
            return UInt32(i)
        })
        enabled = c?.bool("enabled", default: true) ?? true
        mode = c.flatMap(Self.readMode)
        group = c.flatMap(Self.readGroup)
        if let c, socketPath.utf8.count > 100 { c.issue(.invalidValue, "socket", "a Unix socket path must be shorter than 100 bytes") }
    }

    private static func readMode(_ c: ConfigReader) -> mode_t? {
        guard let text = c.string("mode") else { return nil }
        guard let m = UInt32(text, radix: 8), m <= 0o777 else {
            c.issue(.invalidValue, "mode", "expected an octal file mode such as \"0660\", found \"\(text)\"")
            return nil
        }
        return mode_t(m)
    }

    private static func readGroup(_ c: ConfigReader) -> gid_t? {
        guard let v = c.value("group"), v != .null else { return nil }
        if let i = v.intValue, i >= 0, i <= Int(UInt32.max) - 1 { return gid_t(i) }
        if let name = v.stringValue, let g = getgrnam(name) { return g.pointee.gr_gid }
        c.issue(.invalidValue, "group", "expected a group name or id that exists on this machine, found \(v.jsonText)")
        return nil
    }

    /// The config in force for `spec`, with the socket path made absolute.
    public static func of(_ spec: SystemSpec) -> AdminConfig {
        var config = AdminConfig(spec.section("admin").map { ConfigReader($0, environment: ProcessInfo.processInfo.environment) })
        config.socketPath = resolve(config.socketPath, relativeTo: spec.source)
        return config
    }

    /// `path` made absolute against the directory of `systemFile` (or the working directory).
    public static func resolve(_ path: String, relativeTo systemFile: String?) -> String {
        if path.hasPrefix("/") { return path }
        let base = systemFile.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? FileManager.default.currentDirectoryPath
        return URL(fileURLWithPath: base).appendingPathComponent(path).standardized.path
    }

    /// Registers the section with `registry` so `system.json` is checked for it.
    public static func register(in registry: inout ComponentRegistry) {
        registry.registerSection("admin") { _ = AdminConfig($0) }
    }
}
