import Synchronization

/// Lets async code wait until OS threads have counted down to zero (workers warm, threads stopped).
package final class Countdown: Sendable {
    private struct State {
        var remaining: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    /// Creates a countdown from `count`.
    package init(_ count: Int) {
        state = Mutex(State(remaining: count))
    }

    /// Adds `count` more to wait for.
    package func add(_ count: Int) {
        state.withLock { $0.remaining += count }
    }

    /// Counts one down; at zero, wakes every waiter.
    package func countDown() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.remaining -= 1
            guard state.remaining <= 0 else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the count is zero.
    package func wait() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.remaining <= 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
