import CConcShims
import ConcProtocol
import ConcSystem
import Glibc
import Logging
import Synchronization

/// A hard limit on each worker process's memory, enforced by the kernel (`memory_limit_mb`).
public struct MemoryLimit: Sendable, Equatable {
    /// How the kernel is asked to enforce it.
    public enum Mechanism: String, Sendable, CaseIterable {
        /// The cgroup memory controller where concd may make cgroups, else a resource limit.
        case auto
        /// A memory cgroup per worker (cgroup v1 `memory.limit_in_bytes`): past it the kernel's OOM
        /// killer ends the worker, whatever its language, subprocesses included.
        case cgroup
        /// `RLIMIT_DATA` on the worker: past it allocations fail, which a program sees as its own
        /// out-of-memory error (Python's `MemoryError`).
        case rlimit
    }

    /// The limit in bytes.
    public var bytes: UInt64
    /// How it is enforced.
    public var mechanism: Mechanism

    /// A limit of `megabytes` MiB, enforced by `mechanism`.
    public init(megabytes: Int, mechanism: Mechanism = .auto) {
        self.bytes = UInt64(megabytes) * 1024 * 1024
        self.mechanism = mechanism
    }

    /// The limit in MiB.
    public var megabytes: UInt64 { bytes / (1024 * 1024) }
}

/// Puts a pool's workers under their memory limit as they are spawned, and says, once one has
/// ended, whether the kernel stopped it for passing the limit.
///
/// With cgroups, the pool gets a cgroup `concd-POOL` under concd's own memory cgroup (v1; on these
/// machines `/sys/fs/cgroup/memory/…`) and each worker one of its own below it, removed when the
/// worker is reaped; the worker's `memory.oom_control` counts the OOM kills. Without (no memory
/// controller, or concd may not write its cgroup: a unit without `Delegate=`), `RLIMIT_DATA`.
final class MemoryLimiter: Sendable {
    let limit: MemoryLimit
    /// The pool's cgroup folder, when the cgroup mechanism is in use.
    let poolGroup: String?
    private let groups = Mutex<[Int32: String]>([:])
    private let logger: Logger
    private let pool: String

    /// A limiter for `pool`; `cgroupRoot` overrides where concd's memory cgroup is (tests).
    init(limit: MemoryLimit, pool: String, logger: Logger, cgroupRoot: String? = nil) {
        self.limit = limit
        self.pool = pool
        self.logger = logger
        var group: String?
        var why = "the memory limit asks for a resource limit"
        if limit.mechanism != .rlimit {
            let made = Self.makePoolGroup(pool: pool, root: cgroupRoot ?? Self.ownMemoryCgroup())
            group = made.group
            why = made.reason ?? why
        }
        poolGroup = group
        if let group {
            logger.info(
                "workers of the \(pool) pool run in memory cgroups of \(limit.megabytes) MiB each under \(group)",
                metadata: ["event": "memory_limit", "pool": "\(pool)", "mechanism": "cgroup"]
            )
        } else {
            let level: Logger.Level = limit.mechanism == .cgroup ? .warning : .info
            logger.log(
                level: level,
                "workers of the \(pool) pool get RLIMIT_DATA of \(limit.megabytes) MiB each (\(why))",
                metadata: ["event": "memory_limit", "pool": "\(pool)", "mechanism": "rlimit"]
            )
        }
    }

    /// Which mechanism is in force.
    var mechanism: MemoryLimit.Mechanism { poolGroup == nil ? .rlimit : .cgroup }

    /// Puts the worker `pid` under the limit; it has just been spawned and has been given no task.
    func apply(pid: Int32, worker: String) {
        if let poolGroup {
            let group = poolGroup + "/\(worker)-\(pid)"
            if mkdir(group, 0o755) == 0 || errno == EEXIST,
                Self.write("\(limit.bytes)", to: group + "/memory.limit_in_bytes"),
                Self.write("\(pid)", to: group + "/cgroup.procs")
            {
                groups.withLock { $0[pid] = group }
                return
            }
            let reason = Syscall.errnoDescription
            rmdir(group)
            logger.warning(
                "could not put worker \(worker) (pid \(pid)) in a memory cgroup (\(reason)); it gets RLIMIT_DATA instead",
                metadata: ["event": "memory_limit_failed", "pool": "\(pool)", "worker": "\(worker)"]
            )
        }
        if concd_limit_data(pid, limit.bytes) != 0 {
            logger.error(
                "could not limit worker \(worker) (pid \(pid))'s memory: \(Syscall.errnoDescription)",
                metadata: ["event": "memory_limit_failed", "pool": "\(pool)", "worker": "\(worker)"]
            )
        }
    }

    /// Whether the kernel killed worker `pid` for passing its limit: its cgroup counted an OOM kill.
    /// Read before the worker is reaped, outside the pool's lock; `release` removes the cgroup after.
    func killedForMemory(pid: Int32) -> Bool {
        guard let group = groups.withLock({ $0[pid] }) else { return false }
        let control = ProcFS.read(group + "/memory.oom_control") ?? ""
        for line in control.split(separator: "\n") where line.hasPrefix("oom_kill ") {
            return (Int(line.dropFirst("oom_kill ".count)) ?? 0) > 0
        }
        // Kernels before 4.13 do not count kills: a limit reached is the next best sign.
        let failures = ProcFS.read(group + "/memory.failcnt")?.split(separator: "\n").first.flatMap { Int($0) } ?? 0
        return failures > 0
    }

    /// Worker `pid` has been reaped: its cgroup goes.
    func release(pid: Int32) {
        guard let group = groups.withLock({ $0.removeValue(forKey: pid) }) else { return }
        rmdir(group)
    }

    /// Removes the pool's cgroup once its workers are gone.
    func close() {
        if let poolGroup { rmdir(poolGroup) }
    }

    /// The folder of this process's cgroup in the v1 memory hierarchy, if it has one.
    static func ownMemoryCgroup() -> String? {
        guard let text = ProcFS.read("/proc/self/cgroup") else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[1].split(separator: ",").contains("memory") else { continue }
            let folder = "/sys/fs/cgroup/memory" + (parts[2] == "/" ? "" : parts[2])
            return access(folder + "/memory.limit_in_bytes", F_OK) == 0 ? folder : nil
        }
        return nil
    }

    /// The pool's cgroup folder, made if need be, or why there is none.
    private static func makePoolGroup(pool: String, root: String?) -> (group: String?, reason: String?) {
        guard let root else { return (nil, "no cgroup v1 memory controller for concd's cgroup") }
        let group = root + "/concd-\(pool)"
        guard mkdir(group, 0o755) == 0 || errno == EEXIST else {
            return (nil, "cannot make \(group): \(Syscall.errnoDescription)")
        }
        return (group, nil)
    }

    private static func write(_ text: String, to path: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { Glibc.close(descriptor) }
        let bytes = Array(text.utf8)
        return Glibc.write(descriptor, bytes, bytes.count) == bytes.count
    }
}
