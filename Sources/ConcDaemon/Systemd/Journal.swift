import CSystemd
import Glibc

/// Writes structured records to the systemd journal with sd_journal_sendv (sd_journal_send is
/// variadic and unavailable from Swift).
public enum Journal {
    /// Whether stderr is connected to the journal: systemd sets JOURNAL_STREAM to the device and
    /// inode of the stream it gave the service, and a match with stderr is the documented check
    /// (sd_journal_sendv reports success even when nothing listens, so its result cannot tell).
    public static var isStderrConnected: Bool {
        guard let value = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: value).split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// Sends one record. Field names must be uppercase letters, digits and underscores.
    public static func send(_ fields: [(name: String, value: String)]) {
        let buffers = fields.map { strdup("\($0.name)=\($0.value)")! }
        defer { buffers.forEach { free($0) } }
        var vectors = buffers.map { iovec(iov_base: UnsafeMutableRawPointer($0), iov_len: strlen($0)) }
        _ = sd_journal_sendv(&vectors, Int32(vectors.count))
    }

    /// Turns a metadata key into a journal field name: `CONCD_` + uppercase, other characters as `_`.
    public static func fieldName(_ key: String) -> String {
        let cleaned = key.uppercased().map { ($0.isLetter && $0.isASCII) || $0.isNumber ? $0 : "_" }
        return "CONCD_" + String(cleaned)
    }
}
