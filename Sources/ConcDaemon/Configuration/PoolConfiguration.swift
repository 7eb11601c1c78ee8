import ConcProtocol

/// One pool the daemon runs: a built-in one, or one the configuration names under `pools:` with a
/// `model`. Which fields apply depends on the model; the others keep their defaults.
public struct PoolConfiguration: Sendable, Equatable {
    /// The pool's name, which requests use (`"pool":"crunch"`).
    public var name: PoolName
    /// The kind of pool it is.
    public var model: PoolModel
    /// Worker processes (process), threads (thread) or tasks in flight (async).
    public var size: Int
    /// Process model: replace a worker after this many tasks; 0 never.
    public var maxTasks: Int = 0
    /// Process model: up to this many extra tasks, drawn per worker.
    public var maxTasksJitter: Int = 0
    /// Process model: replace a worker after a task leaves it above this resident memory (MiB); 0 never.
    public var maxRSSMegabytes: Int = 0
    /// Async model: keep-alive connections opened to one HTTP server.
    public var connectionsPerHost: Int = 1024
    /// Process model: each worker's hard memory limit (MiB), enforced by the kernel; 0 none.
    public var memoryLimitMegabytes: Int = 0
    /// Process model: how that limit is enforced (`memory_limit_by`).
    public var memoryLimitMechanism: MemoryLimit.Mechanism = .auto
    /// Process model: the user's worker program and its arguments, run instead of concd's own
    /// worker (docs/worker-protocol.md); empty for concd's own.
    public var command: [String] = []
    /// Process model, with a command: the folder the program starts in (default: concd's).
    public var workingDirectory: String?
    /// Process model, with a command: variables added to the program's environment.
    public var environment: [String: String] = [:]
    /// Process model: how long a new worker may take to say it is ready (seconds).
    public var startTimeoutSeconds: Double = 10
    /// Thread and process models: the most threads or workers the pool grows to while work waits
    /// (`max_threads`, `max_workers`); nil for the default, ``defaultMaximum(of:size:)``. `size`
    /// is the minimum.
    public var maximum: Int?
    /// Thread and process models: seconds a thread or worker above the minimum may stay idle.
    public var idleTimeoutSeconds: Double = 10

    /// Creates a pool's configuration; the model's own settings keep their defaults.
    public init(name: PoolName, model: PoolModel, size: Int) {
        self.name = name
        self.model = model
        self.size = size
    }

    /// The size a pool of `model` has when the configuration gives none (or 0): one worker process
    /// per core, four threads per core, 100,000 async tasks.
    public static func defaultSize(of model: PoolModel) -> Int {
        switch model {
        case .process: return DaemonConfiguration.cores
        case .thread: return 4 * DaemonConfiguration.cores
        case .async: return 100_000
        }
    }

    /// The most threads a thread pool grows to when the configuration says nothing: 256, enough
    /// for a burst of blocking I/O to wait side by side (1000 GETs of a 50 ms page in four rounds),
    /// and never below the pool's size. A process pool does not grow unless told to: its workers
    /// are for CPU work, which more processes than cores do not speed up. Async pools do not grow.
    public static func defaultMaximum(of model: PoolModel, size: Int) -> Int {
        model == .thread ? max(size, 256) : size
    }

    /// The most workers this pool grows to.
    public var resolvedMaximum: Int {
        max(size, maximum ?? Self.defaultMaximum(of: model, size: size))
    }

    /// The key of a pool's maximum (`max_threads`, `max_workers`), nil for a model that does not grow.
    public static func maximumKey(of model: PoolModel) -> String? {
        switch model {
        case .process: return "max_workers"
        case .thread: return "max_threads"
        case .async: return nil
        }
    }

    /// The key of a pool's size in its `pools.NAME` section: `workers`, `threads` or `limit`.
    public static func sizeKey(of model: PoolModel) -> String {
        keys(of: model).size
    }

    /// The keys a `pools.NAME` section of this model may hold besides `model`, and the size's key.
    static func keys(of model: PoolModel) -> (size: String, all: Set<String>) {
        switch model {
        case .process:
            return (
                "workers",
                [
                    "workers", "max_workers", "idle_timeout", "max_tasks", "max_tasks_jitter", "max_rss_mb", "memory_limit_mb",
                    "memory_limit_by", "command", "working_directory", "environment", "start_timeout",
                ]
            )
        case .thread: return ("threads", ["threads", "max_threads", "idle_timeout"])
        case .async: return ("limit", ["limit", "connections_per_host"])
        }
    }

    /// What this pool's workers run (process model): the user's command, or concd's own worker.
    package func program(builtInExecutable: String) -> WorkerProgram {
        guard let executable = command.first else { return .builtIn(executable: builtInExecutable) }
        return .command(UserCommand(
            executable: executable, arguments: Array(command.dropFirst()), workingDirectory: workingDirectory,
            environment: environment
        ))
    }

    /// Each worker's hard memory limit (process model), nil for none.
    package var memoryLimit: MemoryLimit? {
        memoryLimitMegabytes > 0 ? MemoryLimit(megabytes: memoryLimitMegabytes, mechanism: memoryLimitMechanism) : nil
    }

    /// When this pool's workers are replaced (process model).
    package var recycling: RecyclePolicy {
        RecyclePolicy(
            maxTasks: maxTasks, maxTasksJitter: maxTasksJitter, maxRSSBytes: UInt64(maxRSSMegabytes) * 1024 * 1024
        )
    }
}
