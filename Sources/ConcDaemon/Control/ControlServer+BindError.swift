import SystemPackage

extension ControlServer {
    /// Why the control socket cannot be bound: a stable code, the `errno` behind it when there is
    /// one, and a sentence.
    package struct BindError: Error, CustomStringConvertible, Sendable {
        /// A stable code for why; decide on it, never on the sentence.
        package struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
            package var rawValue: String
            package init(rawValue: String) { self.rawValue = rawValue }
            package var description: String { rawValue }

            /// The path does not fit a `sockaddr_un` (too long, empty).
            package static let badPath = Code(rawValue: "bad_path")
            /// Something other than a socket is at the path.
            package static let notASocket = Code(rawValue: "not_a_socket")
            /// A live daemon answers on the socket at the path.
            package static let alreadyListening = Code(rawValue: "already_listening")
            /// bind or listen failed (no such directory, no permission, ...).
            package static let bindFailed = Code(rawValue: "bind_failed")
        }

        /// Why.
        package var code: Code
        /// The socket path.
        package var path: String
        /// The system's reason, when there is one.
        package var underlyingError: Errno?
        /// Details for `badPath` and `bindFailed`: the address check's or the bind's own words.
        package var reason: String?

        package var description: String {
            switch code {
            case .notASocket: return "\(path) exists and is not a socket; refusing to replace it"
            case .alreadyListening: return "another daemon is already listening on \(path)"
            case .badPath: return reason ?? "socket path \(path) does not fit a Unix socket address"
            default: return "cannot bind the control socket \(path): \(reason ?? underlyingError?.description ?? "unknown error")"
            }
        }
    }
}
