import NIOCore

/// When an elastic process pool changes its size, between `minimum` and `maximum`: a value the
/// pool asks on a tick (every ``tick``) with what its state machine reports, and which answers
/// the size to resize to, if any. Tests drive it without processes.
///
/// Growth: work waits (queued, or sent ahead behind a busy worker) and the pool is below its
/// maximum: as many workers as tasks wait, up to the maximum, in one resize. A worker takes tens of
/// milliseconds to start (hundreds for a program that loads a model), so growth is for work that
/// waits longer than that; below it the queue is the quicker answer.
/// Retirement: the fewest workers idle at any tick of an idle window (`idleTimeout` long) were idle
/// throughout it; that many, down to the minimum, retire at its end.
package struct ProcessPoolGrowth: Sendable {
    /// Workers kept however idle.
    package private(set) var minimum: Int
    /// Workers the pool may grow to.
    package private(set) var maximum: Int
    /// How long a worker above the minimum may stay idle.
    package private(set) var idleTimeout: TimeAmount
    /// The current idle window: when it began and the fewest idle workers seen in it.
    private var window: (start: NIODeadline, fewestIdle: Int)?

    /// How often the pool asks.
    package static let tick = TimeAmount.milliseconds(100)

    /// Bounds `minimum...maximum` (a maximum below the minimum is raised to it).
    package init(minimum: Int, maximum: Int, idleTimeout: TimeAmount) {
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
        self.idleTimeout = idleTimeout
    }

    /// Whether the pool may change its size at all.
    package var isElastic: Bool { maximum > minimum }

    /// New bounds: `resize` sets the minimum (raising the maximum to it), a reload both and the idle time.
    package mutating func setBounds(minimum: Int, maximum: Int, idleTimeout: TimeAmount) {
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
        self.idleTimeout = idleTimeout
        window = nil
    }

    /// The pool at `now`: `size` workers, `starting` of them not yet ready (each will take a
    /// waiting task), `busy` running one, `queued` tasks waiting. Returns the size to resize to, or
    /// nil to stay.
    package mutating func tick(now: NIODeadline, size: Int, starting: Int = 0, busy: Int, queued: Int) -> Int? {
        if queued > 0 {
            window = nil
            let wanted = min(maximum, size + max(0, queued - starting))
            return wanted > size ? wanted : nil
        }
        let idle = max(0, size - busy - starting)
        guard size > minimum, idle > 0 else {
            window = nil
            return nil
        }
        guard let open = window else {
            window = (now, idle)
            return nil
        }
        let fewestIdle = min(open.fewestIdle, idle)
        guard now - open.start >= idleTimeout else {
            window = (open.start, fewestIdle)
            return nil
        }
        window = nil
        let retire = min(fewestIdle, size - minimum)
        return retire > 0 ? size - retire : nil
    }
}
