import Glibc

/// A filled-in `sockaddr_un` for a socket path, checked against the 107 bytes `sun_path` holds
/// besides its terminating zero; for bind, connect and sendto.
package struct UnixSocketAddress: Sendable {
    /// The path it names.
    package let path: String
    private var storage: sockaddr_un

    /// The most bytes a path may have (`sun_path` less its terminating zero).
    package static var maximumPathBytes: Int {
        MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1
    }

    /// Fills in the address for `path`; throws if the path is empty, longer than
    /// `maximumPathBytes` or holds a zero byte, instead of cutting it short.
    package init(path: String) throws(UnixSocketAddressError) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty else { throw UnixSocketAddressError(code: .emptyPath, path: path) }
        guard !bytes.contains(0) else { throw UnixSocketAddressError(code: .zeroByteInPath, path: path) }
        guard bytes.count <= Self.maximumPathBytes else { throw UnixSocketAddressError(code: .pathTooLong, path: path) }
        self.path = path
        storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
    }

    /// Calls `body` with the address as a `sockaddr` pointer and its length.
    package func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result) rethrows -> Result {
        try withUnsafePointer(to: storage) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }
}

/// A socket path that does not fit a `sockaddr_un`, with a sentence saying why.
package struct UnixSocketAddressError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable code for what is wrong with the path.
    package struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        /// The path is longer than `sun_path` holds.
        package static let pathTooLong = Code(rawValue: "path_too_long")
        /// The path is empty.
        package static let emptyPath = Code(rawValue: "empty_path")
        /// The path has a zero byte in it, which would end it early.
        package static let zeroByteInPath = Code(rawValue: "zero_byte_in_path")
    }

    /// What is wrong.
    package var code: Code
    /// The path as given.
    package var path: String

    /// An error for `path`.
    package init(code: Code, path: String) {
        self.code = code
        self.path = path
    }

    package var description: String {
        switch code {
        case .pathTooLong:
            return "socket path \(path) is longer than \(UnixSocketAddress.maximumPathBytes) bytes"
        case .emptyPath:
            return "the socket path is empty"
        default:
            return "socket path \(path) has a zero byte in it"
        }
    }
}
