import Glibc
import NIOCore

/// A bounded FIFO of jobs that OS threads park on.
///
/// Threads wait on a condition variable rather than spinning or polling, so an idle pool costs
/// no CPU; a thread that may retire waits with a timeout (on the monotonic clock). `NIOThreadPool`
/// parks threads the same way but cannot report its queue length, bound its queue, say whether a
/// job found a thread parked, or grow and shrink by one thread, which the thread pool needs.
package final class JobQueue: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var jobs: [Job?] = []
    private var head = 0
    private var closed = false
    private var waiting = 0
    private var generation = 0

    /// The most jobs that may wait.
    package var limit: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return storedLimit
    }
    private var storedLimit: Int

    /// Changes how many jobs may wait; jobs already queued beyond a lower limit stay queued.
    func setLimit(_ limit: Int) {
        pthread_mutex_lock(mutex)
        storedLimit = limit
        pthread_mutex_unlock(mutex)
    }

    /// Creates an empty queue that holds up to `limit` jobs.
    package init(limit: Int) {
        self.storedLimit = limit
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Why a job was not queued.
    package enum Refusal: Error {
        /// The queue holds `limit` jobs.
        case full
        /// The queue was closed.
        case closed
    }

    /// Appends a job and wakes one waiting thread. Returns the jobs now queued beyond the threads
    /// parked to take them: more than zero means this job waits for a thread to become free.
    @discardableResult
    package func enqueue(_ job: Job) throws(Refusal) -> Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if closed { throw .closed }
        if jobs.count - head >= storedLimit { throw .full }
        jobs.append(job)
        if waiting > 0 { pthread_cond_signal(condition) }
        return jobs.count - head - waiting
    }

    /// What `next` returned.
    package enum Next {
        /// A job to run.
        case job(Job)
        /// `interrupt()` woke the thread with nothing to do: it should look at its pool's size.
        case idle
        /// No job came within the idle time the thread asked to wait.
        case timedOut
        /// The queue is closed and empty: the thread should stop.
        case closed
    }

    /// Takes the oldest job, waiting for one, for at most `idleTimeout` when given: an idle thread
    /// costs no CPU.
    package func next(idleTimeout: TimeAmount? = nil) -> Next {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let startGeneration = generation
        var deadline = timespec()
        if let idleTimeout {
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let nanoseconds = Int64(deadline.tv_nsec) + max(0, idleTimeout.nanoseconds)
            deadline.tv_sec += Int(nanoseconds / 1_000_000_000)
            deadline.tv_nsec = Int(nanoseconds % 1_000_000_000)
        }
        while head == jobs.count {
            if closed { return .closed }
            if generation != startGeneration { return .idle }
            waiting += 1
            let result = idleTimeout == nil
                ? pthread_cond_wait(condition, mutex) : pthread_cond_timedwait(condition, mutex, &deadline)
            waiting -= 1
            if result == ETIMEDOUT && head == jobs.count { return closed ? .closed : .timedOut }
        }
        let job = jobs[head]!
        jobs[head] = nil
        head += 1
        if head > 64 && head * 2 > jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return .job(job)
    }

    /// Jobs waiting now.
    package var count: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return jobs.count - head
    }

    /// Wakes every waiting thread with `.idle`, so each looks at its pool's state (used to shrink a pool).
    func interrupt() {
        pthread_mutex_lock(mutex)
        generation &+= 1
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Refuses new jobs from now on; threads finish what is queued, then `next` returns `.closed`.
    package func close() {
        pthread_mutex_lock(mutex)
        closed = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }
}
