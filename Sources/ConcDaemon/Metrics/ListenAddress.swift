/// A TCP address to listen on, written `HOST:PORT` (`127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// The host or IP address, without brackets.
    public var host: String
    /// The port; 0 lets the kernel pick one.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; nil with a reason when it is not one.
    public static func parse(_ text: String) -> Result<ListenAddress, ParseError> {
        guard let colon = text.lastIndex(of: ":") else {
            return .failure(ParseError(description: "'\(text)' is not HOST:PORT (for example 127.0.0.1:9464)"))
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else {
            return .failure(ParseError(description: "'\(text)' has no host (for example 127.0.0.1:9464)"))
        }
        guard let port = Int(portText), (0...65_535).contains(port) else {
            return .failure(ParseError(description: "'\(text)' has no port 0...65535 after the last ':'"))
        }
        return .success(ListenAddress(host: host, port: port))
    }

    /// Why a listen address could not be read.
    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
