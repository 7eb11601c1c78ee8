/// When a process worker is replaced by a fresh one, to bound what a long-lived worker accumulates
/// (leaks, fragmentation), as gunicorn's max_requests and PHP-FPM's pm.max_requests do.
package struct RecyclePolicy: Sendable, Equatable {
    /// Replace a worker after this many tasks; 0 never.
    package var maxTasks: Int
    /// Add a random 0...jitter to each worker's `maxTasks`, so workers started together are not all
    /// replaced at the same moment.
    package var maxTasksJitter: Int
    /// Replace a worker after a task that leaves its resident memory above this many bytes; 0 never.
    package var maxRSSBytes: UInt64

    package init(maxTasks: Int = 0, maxTasksJitter: Int = 0, maxRSSBytes: UInt64 = 0) {
        self.maxTasks = maxTasks
        self.maxTasksJitter = maxTasksJitter
        self.maxRSSBytes = maxRSSBytes
    }

    /// The task limit for one newly spawned worker, jitter drawn; nil for none.
    func taskLimit() -> UInt64? {
        guard maxTasks > 0 else { return nil }
        return UInt64(maxTasks + (maxTasksJitter > 0 ? Int.random(in: 0...maxTasksJitter) : 0))
    }

    /// Why a worker that has run `tasks` of its `limit` and is `residentBytes` large should be
    /// replaced now, or nil to keep it.
    func reason(tasks: UInt64, limit: UInt64?, residentBytes: UInt64?) -> String? {
        if let limit, tasks >= limit { return "ran \(tasks) tasks (limit \(limit))" }
        if maxRSSBytes > 0, let rss = residentBytes, rss > maxRSSBytes {
            return "resident memory \(rss / 1024) KiB is above \(maxRSSBytes / 1024) KiB"
        }
        return nil
    }
}
