import CSystemd
import Glibc

/// The listening socket systemd passes to a socket-activated service (concd.socket).
enum SocketActivation {
    /// The first passed descriptor when it is a listening Unix stream socket; nil when the daemon
    /// was not socket-activated. `sd_listen_fds(1)` also clears LISTEN_FDS so workers do not inherit it.
    static func listeningSocket() -> Int32? {
        let count = sd_listen_fds(1)
        guard count >= 1 else { return nil }
        let descriptor = SD_LISTEN_FDS_START
        guard sd_is_socket_unix(descriptor, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 else { return nil }
        // The workers must not inherit the listening socket.
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return descriptor
    }
}
