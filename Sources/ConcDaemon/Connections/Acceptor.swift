import CConcShims
import ConcSystem
import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import Synchronization
import SystemPackage

/// Accepts a listening socket's connections on a thread of its own and hands each accepted
/// descriptor to `handle`, which serves it (over to NIO) or refuses it (closes it) from what the
/// kernel says of the peer. The control socket and the metrics listener both accept through one.
///
/// Why not NIO's `ServerBootstrap`: its server channel builds a channel for every connection it
/// accepts, and hops to the child's event loop and back, before any code of ours may look at it;
/// callgrind counted about 70 000 instructions of the daemon for a connection refused in the
/// bootstrap's initializer, against an `accept4`, a `getsockopt` and a `close` here. So a peer
/// that keeps connecting and leaving (`VanishGuard`) costs almost nothing once refused, and the
/// event loops that serve everyone else never see its connections.
package final class Acceptor: Sendable {
    private let descriptor: CInt
    /// A pipe whose write end `stop` closes, to wake the thread out of `poll`.
    private let wake: (read: CInt, write: CInt)
    private let name: String
    private let logger: Logger
    private let handle: @Sendable (CInt) -> Void
    private let finished = DispatchSemaphore(value: 0)
    private let state = Mutex(State.idle)

    private enum State { case idle, running, stopped }

    /// An acceptor for the listening socket `descriptor`, which it owns from now on: it closes it on
    /// `stop`, or at once if it cannot be made. `handle` gets each accepted descriptor,
    /// non-blocking and close-on-exec, and owns it.
    package init(descriptor: CInt, name: String, logger: Logger, handle: @escaping @Sendable (CInt) -> Void) throws(Errno) {
        guard let wake = Syscall.closeOnExecPipe() else {
            let error = Errno(rawValue: errno)
            close(descriptor)
            throw error
        }
        // A socket systemd passed may block; accept4 after poll must not (another may take the connection).
        let flags = fcntl(descriptor, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK == 0 { _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) }
        self.descriptor = descriptor
        self.wake = wake
        self.name = name
        self.logger = logger
        self.handle = handle
    }

    /// Starts accepting.
    package func start() {
        guard state.withLock({ state -> Bool in
            guard case .idle = state else { return false }
            state = .running
            return true
        }) else { return }
        let thread = Thread { [self] in
            _ = concd_set_thread_name("concd-accept")
            run()
            finished.signal()
        }
        thread.name = "concd-accept-\(name)"
        thread.stackSize = 256 << 10
        thread.start()
    }

    /// Stops accepting and closes the listening socket (connections already handed on stay open);
    /// returns once the thread has stopped. Connections still queued are left to the kernel: for a
    /// socket systemd passed, they wait for the next daemon.
    package func stop() {
        let wasRunning = state.withLock { state -> Bool in
            defer { state = .stopped }
            if case .running = state { return true }
            return false
        }
        close(wake.write)
        if wasRunning { finished.wait() }
        close(descriptor)
        close(wake.read)
    }

    private func run() {
        var fds = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
        var lastComplaint: ContinuousClock.Instant?
        while true {
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno != EINTR {
                logger.error("cannot wait for connections; no longer accepting", metadata: ["listener": "\(name)", "error": "\(Syscall.errnoDescription)"])
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            // Everything queued, then back to poll.
            accepting: while true {
                let accepted = concd_accept_nonblocking(descriptor)
                if accepted >= 0 {
                    handle(accepted)
                    continue
                }
                let error = errno
                switch error {
                case EAGAIN:
                    break accepting
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                default:
                    // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), or worse: the
                    // connection stays queued, and accepting again at once would spin. NIO's server
                    // channel backs off the same way.
                    let now = ContinuousClock.now
                    if lastComplaint.map({ now - $0 >= .seconds(10) }) ?? true {
                        lastComplaint = now
                        logger.warning(
                            "cannot accept connections; retrying every 100 ms",
                            metadata: ["listener": "\(name)", "error": "\(String(cString: strerror(error)))"]
                        )
                    }
                    usleep(100_000)
                    break accepting
                }
            }
        }
    }
}

extension Acceptor {
    /// Hands the accepted `descriptor` to NIO, on the next event loop of `group`: the connection may
    /// be owed `limits.sendBufferBytes` of replies before reading stops (`SlowReaderHandler`), and
    /// `initializer` builds its pipeline, on its event loop. The option is set on the channel
    /// directly: a bootstrap's options cost about 10 000 instructions each per connection (futures
    /// and generic metadata, callgrind).
    static func serve(
        _ descriptor: CInt, on group: any EventLoopGroup, limits: ConnectionLimits, logger: Logger,
        initializer: @escaping @Sendable (any Channel) throws -> Void
    ) {
        let connected = ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.syncOptions?.setOption(.writeBufferWaterMark, value: limits.writeBufferWaterMark)
                    try initializer(channel)
                }
            }
            .withConnectedSocket(descriptor)
        connected.whenFailure { error in
            logger.debug("could not set up an accepted connection", metadata: ["error": "\(error)"])
        }
    }
}
