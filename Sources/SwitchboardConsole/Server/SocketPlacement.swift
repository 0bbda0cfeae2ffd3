import Foundation

/// Where the console socket goes on disk, and who can reach it: the checks that keep the
/// server from touching files that are not its own.
enum SocketPlacement {
    enum Kind: Equatable {
        case socket
        case other(String)
    }

    private static let typeMask: mode_t = 0o170000

    /// What is at `path` (without following a symbolic link), or nil when nothing is.
    static func kind(of path: String) -> Kind? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        switch st.st_mode & typeMask {
        case 0o140000: return .socket
        case 0o040000: return .other("a directory")
        case 0o120000: return .other("a symbolic link")
        case 0o100000: return .other("a regular file")
        default: return .other("a special file")
        }
    }

    static func inode(of path: String) -> UInt? {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & typeMask == 0o140000 else { return nil }
        return UInt(st.st_ino)
    }

    /// Makes the socket's directory if it is missing (0700, or 0711 when other users must
    /// reach the socket), creating only what is missing; checks an existing one without
    /// changing it.
    static func prepareDirectory(for socketPath: String, reachableByOthers: Bool) throws(AdminServer.UnsafePath) {
        let dir = (socketPath as NSString).deletingLastPathComponent
        let mode: mode_t = reachableByOthers ? 0o711 : 0o700
        var missing: [String] = []
        var probe = dir.isEmpty ? "." : dir
        while kind(of: probe) == nil, probe != "/", !probe.isEmpty {
            missing.append(probe)
            probe = (probe as NSString).deletingLastPathComponent
        }
        for created in missing.reversed() {
            guard mkdir(created, mode) == 0 || errno == EEXIST else {
                throw .init(description: "admin.socket: cannot create \(created): \(String(cString: strerror(errno)))")
            }
            chmod(created, mode)  // ours: the umask must not widen or narrow it
        }
        var st = stat()
        guard stat(dir.isEmpty ? "." : dir, &st) == 0, st.st_mode & typeMask == 0o040000 else {
            throw .init(description: "admin.socket: \(dir) is not a directory")
        }
        if st.st_mode & 0o002 != 0, st.st_mode & 0o1000 == 0 {
            throw .init(description: "admin.socket: \(dir) is writable by everyone without the sticky bit (anyone could replace the socket); choose another directory")
        }
        if reachableByOthers, st.st_mode & 0o001 == 0, missing.isEmpty {
            throw .init(description: "admin.allowUids: other users cannot reach a socket in \(dir) (mode \(String(st.st_mode & 0o7777, radix: 8))); give the directory o+x or choose another socket path")
        }
    }

    /// Sets the socket's mode and group.
    static func applyAccess(_ path: String, mode: mode_t, group: gid_t?) throws(AdminServer.UnsafePath) {
        if let group, chown(path, uid_t.max, group) != 0 {
            throw .init(description: "admin.group: cannot give \(path) to group \(group): \(String(cString: strerror(errno)))")
        }
        guard chmod(path, mode) == 0 else {
            throw .init(description: "admin.mode: cannot set \(path) to \(String(mode, radix: 8)): \(String(cString: strerror(errno)))")
        }
    }
}
