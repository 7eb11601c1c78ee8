import CConcShims
import Glibc
import ServiceLifecycle
import Synchronization

/// Gives the heap memory that closed connections freed back to the kernel. glibc keeps freed
/// memory in its arenas: a burst of connections that each held a partly read frame or unsent
/// replies (64 KiB buffers, below the mmap threshold, spread over the event loops' arenas) leaves
/// the daemon's RSS high long after they are gone. `malloc_trim(0)` returns every whole free page
/// of every arena (madvise), so after a connection closes the daemon's memory comes back to idle.
/// It runs at most once a second, and only when a connection closed since it last ran.
struct HeapTrimmer: Service {
    /// Connections closed since the daemon started; the servers count each close here.
    static let closed = Atomic<Int>(0)

    /// Counts one closed connection.
    static func noteClosed() {
        closed.add(1, ordering: .relaxed)
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var trimmedAt = Self.closed.load(ordering: .relaxed)
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                let now = Self.closed.load(ordering: .relaxed)
                guard now != trimmedAt else { continue }
                trimmedAt = now
                malloc_trim(0)
            }
        }
    }
}
