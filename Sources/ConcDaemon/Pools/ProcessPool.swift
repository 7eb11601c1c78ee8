import ConcProtocol
import ConcWorkerCore
import Foundation
import Logging
import NIOCore
import Synchronization

/// N pre-spawned worker processes. Each has a driver thread in the daemon that takes a job from the
/// shared queue, hands it to its worker over a socketpair, and waits for the answer; so a task
/// costs two datagrams and no spawn. A worker that dies is reaped and replaced by its driver.
package final class ProcessPool: Pool {
    package let kind = PoolKind.process
    private let queue: JobQueue
    private let executable: String
    private let logger: Logger
    private let slots = Mutex<[ProcessWorkerSlot]>([])
    private let stopped = Countdown(0)
    private let initialSize: Int
    private let recycling: Mutex<RecyclePolicy>
    private let nextIndex = Mutex(0)

    /// Creates a pool of `size` workers running `executable` in worker mode.
    package init(
        size: Int, queueLimit: Int, executable: String, recycling: RecyclePolicy = RecyclePolicy(), logger: Logger
    ) {
        precondition(size > 0, "a process pool needs at least one worker")
        self.queue = JobQueue(limit: queueLimit)
        self.executable = executable
        self.logger = logger
        self.initialSize = size
        self.recycling = Mutex(recycling)
    }

    /// Changes when workers are recycled; each worker picks up the policy when it is next spawned.
    package func setRecycling(_ policy: RecyclePolicy) {
        recycling.withLock { $0 = policy }
    }

    /// SIGKILLs the worker with this pid (`concctl kill-worker`); its driver replaces it, and the
    /// task it ran fails as `worker_died` (or runs again, if it asked for retries).
    package func kill(workerPID pid: Int32) -> Result<String, WireError> {
        let current = slots.withLock { $0 }
        for slot in current where slot.signal(pid: pid, SIGKILL) {
            // An idle worker's driver notices the death at its next liveness check; waking the
            // drivers once the signal has landed makes the replacement start at once.
            let queue = self.queue
            Task {
                try? await Task.sleep(for: .milliseconds(10))
                queue.interrupt()
            }
            return .success("sent SIGKILL to \(slot.name) (pid \(pid)); the pool replaces it")
        }
        let known = current.compactMap { slot in slot.status().pid.map { "\(slot.name) pid \($0)" } }
        return .failure(WireError(
            .notFound,
            "pid \(pid) is not one of concd's process workers (\(known.isEmpty ? "none running" : known.joined(separator: ", ")))"
        ))
    }

    package func start() async throws {
        try await grow(by: initialSize)
    }

    package func resize(size: Int, queueLimit: Int) async throws {
        precondition(size > 0, "a process pool needs at least one worker")
        queue.setLimit(queueLimit)
        let current = slots.withLock { $0.count }
        if size > current {
            try await grow(by: size - current)
        } else if size < current {
            let retired = slots.withLock { slots -> [ProcessWorkerSlot] in
                defer { slots.removeLast(current - size) }
                return Array(slots.suffix(current - size))
            }
            for slot in retired { slot.retire() }
            queue.interrupt()
            logger.info("process pool shrinking", metadata: ["event": "pool_resized", "resized": "process", "from": "\(current)", "to": "\(size)"])
        }
    }

    /// Starts `count` more workers and returns once each has greeted the daemon (or failed to).
    private func grow(by count: Int) async throws {
        let warm = Countdown(count)
        let added = slots.withLock { slots -> [ProcessWorkerSlot] in
            let first = nextIndex.withLock { index in
                defer { index += count }
                return index
            }
            let fresh = (first..<(first + count)).map {
                ProcessWorkerSlot(index: $0, executable: executable, recycling: recycling.withLock { $0 }, logger: logger)
            }
            slots.append(contentsOf: fresh)
            return fresh
        }
        stopped.add(count)
        for slot in added {
            let thread = Thread { [self] in
                slot.drive(queue: queue, warm: warm)
                stopped.countDown()
            }
            thread.name = "concd-\(slot.name)"
            thread.stackSize = 1 << 20
            thread.start()
        }
        await warm.wait()
        let failures = added.compactMap(\.startupFailure)
        if let first = failures.first {
            throw WorkerSpawner.Failure(description: "\(failures.count) of \(added.count) process workers did not start: \(first)")
        }
    }

    package func submit(_ job: Job) throws(WireError) {
        try queue.submit(job, to: kind)
    }

    package func snapshot() -> PoolSnapshot {
        let workers = slots.withLock { $0 }.map { $0.status() }
        return PoolSnapshot(
            size: workers.count,
            busy: workers.filter(\.busy).count,
            queued: queue.count,
            queueLimit: queue.limit,
            workers: workers
        )
    }

    package func shutdown() async {
        queue.close()
        await stopped.wait()
    }
}

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
}

/// One worker process and the driver thread that owns it.
package final class ProcessWorkerSlot: Sendable {
    /// `process-<index>`.
    package let name: String
    private let executable: String
    private let logger: Logger
    private let recycling: RecyclePolicy
    private let shared = Mutex(SharedState())

    private struct SharedState {
        /// The worker's pid while it is alive or not yet reaped; cleared under the lock before it
        /// is reaped, so a signal sent under the lock never reaches a recycled pid.
        var pid: Int32?
        var busy = false
        var tasks: UInt64 = 0
        var taskLimit: UInt64?
        var startupFailure: String?
        var retiring = false
    }

    /// How long an idle driver waits for a job before it checks that its worker is alive.
    private static let livenessInterval: Int64 = 200_000_000
    /// How long a worker asked to stop (SIGTERM, or its channel closed) has before SIGKILL.
    private static let stopGraceMilliseconds = 1000

    package init(index: Int, executable: String, recycling: RecyclePolicy = RecyclePolicy(), logger: Logger) {
        self.name = "process-\(index)"
        self.executable = executable
        self.recycling = recycling
        self.logger = logger
    }

    /// Sends `signal` to this slot's worker if its pid is `pid`; false when it is not.
    func signal(pid: Int32, _ signal: Int32) -> Bool {
        shared.withLock { state in
            guard state.pid == pid else { return false }
            return Glibc.kill(pid, signal) == 0
        }
    }

    /// Asks the driver to stop its worker and exit after the job it is running, if any.
    func retire() {
        shared.withLock { $0.retiring = true }
    }

    private var isRetiring: Bool { shared.withLock { $0.retiring } }

    /// Why the first spawn failed, if it did.
    package var startupFailure: String? { shared.withLock { $0.startupFailure } }

    package func status() -> WorkerStatus {
        shared.withLock { WorkerStatus(name: name, pid: $0.pid, busy: $0.busy, tasks: $0.tasks) }
    }

    /// The driver thread's loop: spawn, then run jobs until the queue closes; then stop the worker.
    package func drive(queue: JobQueue, warm: Countdown) {
        var worker: SpawnedWorker?
        do {
            worker = try respawn()
        } catch {
            shared.withLock { $0.startupFailure = error.description }
        }
        warm.countDown()
        loop: while !isRetiring {
            switch queue.next(timeoutNanoseconds: Self.livenessInterval) {
            case .closed:
                break loop
            case .idle:
                if let current = worker, let exit = reapIfExited(current) {
                    logger.warning(
                        "worker died while idle; replacing it",
                        metadata: ["event": "worker_died", "worker": "\(name)", "pid": "\(current.pid)", "exit": "\(exit)"]
                    )
                    close(current.socket)
                    worker = try? respawn()
                } else if worker == nil {
                    worker = try? respawn()
                }
            case .job(let job):
                run(job, worker: &worker)
            }
        }
        if let worker {
            stop(worker)
            logger.info("worker stopped", metadata: ["event": "worker_stopped", "worker": "\(name)", "pid": "\(worker.pid)"])
        }
        shared.withLock { $0.pid = nil }
    }

    private func run(_ job: Job, worker: inout SpawnedWorker?) {
        if job.isExpired {
            job.complete(outcome(.failure(.expiredInQueue(job.workload)), pid: worker?.pid))
            return
        }
        if worker == nil {
            do {
                worker = try respawn()
            } catch {
                job.complete(outcome(.failure(WireError(.internal, "no worker could be started: \(error)")), pid: nil))
                return
            }
        }
        shared.withLock { $0.busy = true }
        defer { shared.withLock { $0.busy = false } }
        var current = worker!
        var result = exchange(job, with: current)
        if case .notSent = result {
            // The worker died before it saw the task, so sending it to a fresh one cannot run it twice.
            let exit = waitForExit(current)
            logger.warning(
                "worker gone before a task reached it; replacing it",
                metadata: ["event": "worker_died", "worker": "\(name)", "pid": "\(current.pid)", "exit": "\(exit)"]
            )
            close(current.socket)
            worker = nil
            do {
                current = try respawn()
            } catch {
                job.complete(outcome(.failure(WireError(.workerDied, "worker \(name) (pid \(current.pid)) \(exit) and could not be replaced: \(error)")), pid: current.pid))
                return
            }
            worker = current
            result = exchange(job, with: current)
        }
        switch result {
        case .answered(let answer):
            let tasks = shared.withLock { state -> (done: UInt64, limit: UInt64?) in
                state.tasks &+= 1
                return (state.tasks, state.taskLimit)
            }
            job.complete(outcome(answer, pid: current.pid))
            if let reason = recycleReason(current, tasks: tasks.done, limit: tasks.limit) {
                logger.info(
                    "recycling worker",
                    metadata: ["event": "worker_recycled", "worker": "\(name)", "pid": "\(current.pid)", "reason": "\(reason)"]
                )
                stop(current)
                worker = try? respawn()
            }
        case .notSent, .died:
            let exit = waitForExit(current)
            let error = WireError(
                .workerDied,
                "worker \(name) (pid \(current.pid)) \(exit) while running \(job.workload)"
            )
            logger.warning("worker died mid-task; replacing it", metadata: ["event": "worker_died", "worker": "\(name)", "pid": "\(current.pid)", "exit": "\(exit)", "task": "\(job.workload)"])
            close(current.socket)
            worker = try? respawn()
            job.complete(outcome(.failure(error), pid: current.pid))
        case .timedOut:
            logger.notice("task passed its deadline; stopping its worker", metadata: ["event": "worker_timeout", "worker": "\(name)", "pid": "\(current.pid)", "task": "\(job.workload)"])
            stop(current, politely: false)
            worker = try? respawn()
            job.complete(outcome(.failure(WireError(.timeout, "\(job.workload) did not finish within its deadline on worker \(name) (pid \(current.pid)), which was stopped and replaced")), pid: current.pid))
        }
    }

    /// Why the worker should be replaced after this task, or nil to keep it.
    private func recycleReason(_ worker: SpawnedWorker, tasks: UInt64, limit: UInt64?) -> String? {
        if let limit, tasks >= limit { return "ran \(tasks) tasks (limit \(limit))" }
        if recycling.maxRSSBytes > 0, let rss = ProcFS.residentBytes(pid: worker.pid), rss > recycling.maxRSSBytes {
            return "resident memory \(rss / 1024) KiB is above \(recycling.maxRSSBytes / 1024) KiB"
        }
        return nil
    }

    /// How often a driver waiting for its worker's answer checks that the worker is still alive.
    private static let exitCheckMilliseconds: Int64 = 1000

    private func outcome(_ result: Result<TaskValue, WireError>, pid: Int32?) -> TaskOutcome {
        TaskOutcome(result: result, worker: name, workerPID: pid)
    }

    private enum Exchange {
        case answered(Result<TaskValue, WireError>)
        case notSent
        case died
        case timedOut
    }

    private func exchange(_ job: Job, with worker: SpawnedWorker) -> Exchange {
        let remaining = job.remaining().map { max(1, $0.nanoseconds / 1_000_000) }
        let message = WorkerMessage.encode(WorkerMessage.Task(workload: job.workload, remainingMilliseconds: remaining ?? 0))
        let sent = Syscall.retryingEINTR {
            message.withUnsafeBytes { send(worker.socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        guard sent == message.count else { return .notSent }
        // The worker bounds its own waits by the deadline; the slack covers its reply in flight.
        let giveUp = remaining.map { NIODeadline.now() + .milliseconds($0 + 250) }
        var descriptor = pollfd(fd: worker.socket, events: Int16(POLLIN), revents: 0)
        while true {
            // Waited on in slices: a dead worker normally closes the socket, but a process it left
            // behind holding the socket (a crash handler it started, say) would keep the driver
            // waiting forever; between slices the driver looks whether the worker is still alive.
            let left = giveUp.map { max(0, ($0 - .now()).nanoseconds / 1_000_000) } ?? Self.exitCheckMilliseconds
            let ready = Syscall.retryingEINTR { poll(&descriptor, 1, Int32(clamping: min(left, Self.exitCheckMilliseconds))) }
            if ready > 0 { break }
            if let giveUp, giveUp <= .now() { return .timedOut }
            if ProcFS.hasExited(worker.pid) { return .died }
        }
        var buffer = [UInt8](repeating: 0, count: WorkerMessage.maxBytes)
        let count = Syscall.retryingEINTR {
            buffer.withUnsafeMutableBytes { recv(worker.socket, $0.baseAddress, $0.count, 0) }
        }
        guard count > 0 else { return .died }
        guard case .result(let answer)? = WorkerMessage.decodeReply(buffer[..<count]) else {
            return .answered(.failure(WireError(.internal, "worker \(name) sent a reply the daemon could not read")))
        }
        return .answered(answer)
    }

    private func respawn() throws(WorkerSpawner.Failure) -> SpawnedWorker {
        shared.withLock { $0.pid = nil }
        let worker = try WorkerSpawner.spawn(executable: executable)
        var buffer = [UInt8](repeating: 0, count: 64)
        var descriptor = pollfd(fd: worker.socket, events: Int16(POLLIN), revents: 0)
        let ready = Syscall.retryingEINTR { poll(&descriptor, 1, 10_000) }
        let count = ready > 0
            ? Syscall.retryingEINTR { buffer.withUnsafeMutableBytes { recv(worker.socket, $0.baseAddress, $0.count, 0) } }
            : 0
        guard count > 0, case .hello? = WorkerMessage.decodeReply(buffer[..<count]) else {
            stop(worker, politely: false)
            throw WorkerSpawner.Failure(description: "worker \(executable) (pid \(worker.pid)) did not greet the daemon")
        }
        shared.withLock { state in
            state.pid = worker.pid
            state.tasks = 0
            state.taskLimit = recycling.taskLimit()
        }
        logger.info("worker spawned", metadata: ["event": "worker_spawned", "worker": "\(name)", "pid": "\(worker.pid)"])
        return worker
    }

    /// Returns how the worker exited when it already has, reaping it; nil while it runs.
    private func reapIfExited(_ worker: SpawnedWorker) -> String? {
        shared.withLock { state -> String? in
            var status: Int32 = 0
            let result = Syscall.retryingEINTR { waitpid(worker.pid, &status, WNOHANG) }
            guard result == worker.pid else { return nil }
            if state.pid == worker.pid { state.pid = nil }
            return Syscall.describeExit(status)
        }
    }

    /// Waits for a worker whose channel has closed, killing it when it lingers.
    private func waitForExit(_ worker: SpawnedWorker) -> String {
        for _ in 0..<Self.stopGraceMilliseconds / 10 {
            if let exit = reapIfExited(worker) { return exit }
            usleep(10_000)
        }
        Glibc.kill(worker.pid, SIGKILL)
        return shared.withLock { state in
            var status: Int32 = 0
            _ = Syscall.retryingEINTR { waitpid(worker.pid, &status, 0) }
            if state.pid == worker.pid { state.pid = nil }
            return Syscall.describeExit(status)
        }
    }

    /// Stops a worker: politely by closing its channel (it exits on EOF), or with SIGTERM;
    /// SIGKILL when it has not exited after the grace period.
    private func stop(_ worker: SpawnedWorker, politely: Bool = true) {
        if !politely { Glibc.kill(worker.pid, SIGTERM) }
        close(worker.socket)
        _ = waitForExit(worker)
    }
}
