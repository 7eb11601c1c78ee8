/// How many threads a thread pool runs, between its minimum and its maximum. The pool's lock guards
/// one of these; events go in (work waits, a thread idled out, resize, abandon, close) and decisions
/// come out (start a thread with this index, let this thread exit), so tests drive it without threads.
///
/// Growth: a job that finds no thread parked and no thread on its way starts one, up to the maximum,
/// so a burst of blocking work gets a thread per job within a few hundred microseconds each.
/// Retirement: a thread above the minimum that waited `idleTimeout` for a job exits; one above the
/// maximum (after a resize lowered it) exits as soon as it is free.
package struct ThreadPoolSizing: Sendable, Equatable {
    /// Threads kept however idle.
    package private(set) var minimum: Int
    /// Threads the pool may grow to.
    package private(set) var maximum: Int
    /// Threads counted: started and neither exited nor abandoned.
    package private(set) var running = 0
    /// Threads started that have not yet asked for their first job: each will take one queued job.
    package private(set) var starting = 0
    /// The most threads counted since the pool last left its minimum.
    package private(set) var peak = 0
    /// Set at shutdown: no thread is started after it.
    package private(set) var closed = false
    /// The next thread's number, so that a new thread never takes the name of one still running.
    private var nextIndex = 0

    /// Bounds `minimum...maximum`; a maximum below the minimum is raised to it.
    package init(minimum: Int, maximum: Int) {
        precondition(minimum > 0, "a thread pool needs at least one thread")
        self.minimum = minimum
        self.maximum = Swift.max(minimum, maximum)
    }

    /// Whether the pool may grow at all.
    package var isElastic: Bool { maximum > minimum }

    /// Whether a free thread should wait for work only `idleTimeout` before asking to retire.
    package var idleThreadsMayRetire: Bool { running > minimum }

    /// What a change of the count means for the log.
    package enum Milestone: Equatable, Sendable {
        /// The pool left its minimum: work waited with every thread busy.
        case leftMinimum
        /// The pool reached its maximum: from now on work waits in the queue.
        case reachedMaximum
        /// The pool came back to its minimum; `peak` is the most threads it had meanwhile.
        case backAtMinimum(peak: Int)
    }

    /// A thread to start: its index (its name) and what the growth means for the log.
    package struct Start: Equatable, Sendable {
        /// The new thread's number.
        package var index: Int
        /// Set when this start crosses a bound.
        package var milestone: Milestone?
    }

    /// The pool starts: the minimum's threads, numbered from 0.
    package mutating func start() -> [Int] {
        startThreads(minimum - running)
    }

    /// A job was queued with `unserved` jobs now beyond the parked threads that will take them.
    /// Returns the thread to start when none is on its way for it and the pool is below its maximum.
    package mutating func workWaits(unserved: Int) -> Start? {
        guard !closed, unserved > starting, running < maximum else { return nil }
        let left = running == minimum
        let index = startThreads(1)[0]
        let milestone: Milestone? =
            running == maximum ? .reachedMaximum : left ? .leftMinimum : nil
        return Start(index: index, milestone: milestone)
    }

    /// A started thread asks for its first job.
    package mutating func threadReady() {
        starting -= 1
    }

    /// A free thread waited its idle time for a job without one. Returns whether it should exit
    /// (the pool is above its minimum), and whether that brings the pool back to it.
    package mutating func idleTimedOut() -> (retire: Bool, milestone: Milestone?) {
        guard running > minimum else { return (false, nil) }
        return (true, countOut())
    }

    /// A thread is free (between jobs, or woken to look at the bounds). Returns whether it should
    /// exit at once: the pool is above its maximum after a resize.
    package mutating func threadFree() -> (retire: Bool, milestone: Milestone?) {
        guard running > maximum else { return (false, nil) }
        return (true, countOut())
    }

    /// The queue closed under a thread, which exits.
    package mutating func threadClosed() {
        running -= 1
    }

    /// A thread was abandoned at a job's deadline. Returns the replacement to start when the pool
    /// fell below its minimum (above it, growth replaces the thread when work waits).
    package mutating func abandoned() -> Int? {
        running -= 1
        guard !closed, running < minimum else { return nil }
        return startThreads(1)[0]
    }

    /// New bounds (reload, or `resize`, which sets the minimum and raises the maximum to it if
    /// lower). Returns the threads to start to reach the new minimum; threads above a lower maximum
    /// exit when free, those above a lower minimum after their idle time.
    package mutating func setBounds(minimum: Int, maximum: Int) -> [Int] {
        precondition(minimum > 0, "a thread pool needs at least one thread")
        self.minimum = minimum
        self.maximum = Swift.max(minimum, maximum)
        return closed ? [] : startThreads(minimum - running)
    }

    /// Shutdown: nothing starts from now on.
    package mutating func close() {
        closed = true
    }

    private mutating func startThreads(_ count: Int) -> [Int] {
        guard count > 0 else { return [] }
        if running <= minimum { peak = running }
        running += count
        starting += count
        peak = Swift.max(peak, running)
        defer { nextIndex += count }
        return Array(nextIndex..<(nextIndex + count))
    }

    private mutating func countOut() -> Milestone? {
        running -= 1
        return running == minimum && peak > minimum ? .backAtMinimum(peak: peak) : nil
    }
}
