import ConcProtocol

/// What `concctl compare` measured on one pool. Times are seconds.
struct PoolComparison: Codable, Equatable {
    /// The pool.
    var pool: PoolName
    /// Its concurrency model: processes, threads or async.
    var model: String
    /// Tasks run at once.
    var count: Int
    /// Tasks that failed (of `count`).
    var errors: Int
    /// Wall time of one task run alone on this pool just before, as the client saw it (the median
    /// of three runs when a run takes under a second).
    var oneTaskSeconds: Double
    /// `count` × `oneTaskSeconds`: how long the tasks would take one after another.
    var serialSeconds: Double
    /// From sending the first of the `count` tasks to the last reply.
    var wallSeconds: Double
    /// CPU time (user + system) the daemon and its process workers used in that time.
    var cpuSeconds: Double
    /// `serialSeconds` / `wallSeconds`.
    var speedup: Double
    /// `cpuSeconds` / `wallSeconds`: cores kept busy on average.
    var parallelism: Double

    enum CodingKeys: String, CodingKey {
        case pool, model, count, errors, speedup, parallelism
        case oneTaskSeconds = "one_task_s"
        case serialSeconds = "serial_s"
        case wallSeconds = "wall_s"
        case cpuSeconds = "cpu_s"
    }

    /// The words a person uses for each pool's model.
    static func model(of pool: PoolName) -> String {
        switch pool.builtInModel {
        case .process: return "processes"
        case .thread: return "threads"
        case .async: return "async"
        case nil: return pool.rawValue
        }
    }
}

/// The whole comparison, as `--json` prints it.
struct Comparison: Codable, Equatable {
    /// The workload, as typed (`cpu 10000000`).
    var workload: String
    /// Copies run at once on each pool.
    var count: Int
    /// One entry per pool that can run the workload, in the order process, thread, async.
    var pools: [PoolComparison]
}
