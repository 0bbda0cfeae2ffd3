import Foundation
import Switchboard

/// The client end of the admin socket: blocking reads and writes, with a way out for Ctrl-C.
public final class AdminClient {
    /// The socket could not be reached.
    public struct Unreachable: Error, CustomStringConvertible {
        public let path: String
        public let why: String
        public var description: String { "cannot attach to \(path): \(why) (is `switchboard run` running? pass --socket PATH)" }
    }

    private let fd: Int32
    private var decoder = FrameDecoder()
    /// The server's greeting.
    public private(set) var hello: JSONValue = .null

    /// Connects to the socket at `path` and reads the greeting.
    public init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Unreachable(path: path, why: String(cString: strerror(errno))) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw Unreachable(path: path, why: "the path is too long for a Unix socket")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let size = socklen_t(MemoryLayout<sockaddr_un>.size)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } }
        guard rc == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw Unreachable(path: path, why: why)
        }
        guard let first = try read(), first.kind == .hello || first.kind == .reply else {
            close(fd)
            throw Unreachable(path: path, why: "the server did not greet")
        }
        if first.kind == .reply {
            close(fd)
            throw Unreachable(path: path, why: first.payload["text"]?.stringValue ?? "refused")
        }
        hello = first.payload
    }

    deinit { close(fd) }

    /// Sends raw lines (a command, or a heredoc with its body).
    public func send(_ lines: [String]) throws {
        var bytes = Array(lines.joined(separator: "\n").utf8)
        bytes.append(10)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw Unreachable(path: "", why: "the server went away") }
            offset += n
        }
    }

    /// The next frame; `interrupted` is polled while waiting (Ctrl-C). `nil` when the
    /// server closed the connection.
    public func read(interrupted: () -> Bool = { false }) throws -> Frame? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let frame = try decoder.next() { return frame }
            if interrupted() { try? send([".cancel"]) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 100)
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return nil }
            decoder.feed(buffer[..<n])
        }
    }

    /// Sends a command and collects its events until the reply. A `source FILE` command
    /// reads the file here, on the console's side, and sends its lines.
    public func run(_ lines: [String], interrupted: () -> Bool = { false }, onEvent: (JSONValue) -> Void) throws -> JSONValue? {
        try send(SourceFile.attach(lines))
        while let frame = try read(interrupted: interrupted) {
            switch frame.kind {
            case .event: onEvent(frame.payload)
            case .reply: return frame.payload
            case .hello: continue
            }
        }
        return nil
    }
}
