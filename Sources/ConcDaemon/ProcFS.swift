import Glibc

/// What the daemon reads of other processes under /proc: their stat fields (CPU time, whether a
/// worker has exited) and their resident memory (recycling); and of its workers' memory cgroups.
package enum ProcFS {
    /// The text of a small /proc or /sys file (one read), or nil when it cannot be read (the process
    /// is gone).
    package static func read(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// The fields of /proc/PID/stat after the command name, which is in parentheses and may itself
    /// hold spaces and ")": so they are counted from the last ")". Index 0 is the state (field 3).
    package static func statFields(_ text: String) -> [Substring]? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.isEmpty ? nil : fields
    }

    /// Whether the process has exited (a zombie not yet reaped, or gone), without reaping it.
    package static func hasExited(_ pid: Int32) -> Bool {
        guard let text = read("/proc/\(pid)/stat") else { return true }
        guard let state = statFields(text)?.first else { return false }
        return state == "Z" || state == "X"
    }

    /// A process's resident set size, from /proc/PID/statm (its second field, in pages).
    package static func residentBytes(pid: Int32) -> UInt64? {
        guard let fields = read("/proc/\(pid)/statm")?.split(separator: " "), fields.count > 1,
            let pages = UInt64(fields[1])
        else { return nil }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
