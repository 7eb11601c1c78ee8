/// The check every GET target passes before it reaches a pool: `http://` or `https://`, a host,
/// no whitespace or control characters.
public enum HTTPURL {
    /// Throws `invalid_argument` with a sentence when `url` is not an absolute http(s) URL.
    public static func validate(_ url: String) throws(WireError) {
        guard url.utf8.count <= ProtocolLimits.maxURLBytes else {
            throw WireError(.invalidArgument, "the URL is longer than \(ProtocolLimits.maxURLBytes) bytes")
        }
        let lowered = url.lowercased()
        let rest: Substring
        if lowered.hasPrefix("http://") {
            rest = url.dropFirst("http://".count)
        } else if lowered.hasPrefix("https://") {
            rest = url.dropFirst("https://".count)
        } else {
            throw WireError(.invalidArgument, "'\(url)' is not an http:// or https:// URL")
        }
        guard url.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw WireError(.invalidArgument, "the URL contains spaces or control characters")
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let hostPort = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        let host: Substring
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw WireError(.invalidArgument, "'\(url)' has an unterminated IPv6 address")
            }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
        } else {
            host = hostPort.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        }
        guard !host.isEmpty else { throw WireError(.invalidArgument, "'\(url)' has no host") }
        if hostPort.hasPrefix("[") {
            return
        }
        let parts = hostPort.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count > 2 {
            throw WireError(.invalidArgument, "'\(url)' has a malformed host:port")
        }
        if parts.count == 2 {
            guard let port = Int(parts[1]), (1...65535).contains(port) else {
                throw WireError(.invalidArgument, "'\(url)' has an invalid port '\(parts[1])'")
            }
        }
    }
}
