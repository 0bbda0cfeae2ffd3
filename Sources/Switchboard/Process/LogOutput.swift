#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Writes log lines to a file descriptor without ever ending the process: a line that
/// cannot be written (a closed pipe, a full disk) is dropped and counted.
///
/// Foundation's `FileHandle.write(_:)` traps on an error (it is a `try!` inside), so a log
/// shipper that restarts, `| head -1` or a closed terminal would kill the server through its
/// log. This writes with `write(2)` itself, finishing short writes and retrying `EINTR`.
///
/// - Important: A closed pipe also raises SIGPIPE, whose default action ends the process
///   before `write(2)` returns; `ignoreBrokenPipes()` must run once at start.
public enum LogOutput {
    private static let dropped = Atomic<Int>(0)

    /// Lines dropped because their write failed, since the process started.
    public static var droppedLines: Int { dropped.load(ordering: .relaxed) }

    /// Makes a write to a closed pipe or socket fail with `EPIPE` instead of ending the process.
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Writes all of `line` to `fd`; false (and counted) when it could not.
    @discardableResult
    public static func write(_ line: String, to fd: Int32) -> Bool {
        var line = line
        let written = line.withUTF8 { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0, errno == EINTR {
                    continue
                } else {
                    return false
                }
            }
            return true
        }
        if !written { dropped.add(1, ordering: .relaxed) }
        return written
    }

    private static func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.write(fd, bytes, count)
        #elseif canImport(Musl)
        Musl.write(fd, bytes, count)
        #else
        Darwin.write(fd, bytes, count)
        #endif
    }
}
