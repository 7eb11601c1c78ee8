import ConcProtocol
import Foundation
import Logging
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

    /// Creates a pool of `size` workers running `executable` in worker mode.
    package init(size: Int, queueLimit: Int, executable: String, logger: Logger) {
        precondition(size > 0, "a process pool needs at least one worker")
        self.queue = JobQueue(limit: queueLimit)
        self.executable = executable
        self.logger = logger
        self.initialSize = size
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
            let fresh = (slots.count..<(slots.count + count)).map {
                ProcessWorkerSlot(index: $0, executable: executable, logger: logger)
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

/// One worker process and the driver thread that owns it.
package final class ProcessWorkerSlot: Sendable {
    /// `process-<index>`.
    package let name: String
    private let executable: String
    private let logger: Logger
    private let shared = Mutex(SharedState())

    private struct SharedState {
        var pid: Int32?
        var busy = false
        var tasks: UInt64 = 0
        var startupFailure: String?
        var retiring = false
    }

    /// How long an idle driver waits for a job before it checks that its worker is alive.
    private static let livenessInterval: Int64 = 500_000_000
    /// How long a worker asked to stop (SIGTERM, or its channel closed) has before SIGKILL.
    private static let stopGraceMilliseconds = 1000

    package init(index: Int, executable: String, logger: Logger) {
        self.name = "process-\(index)"
        self.executable = executable
        self.logger = logger
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
            shared.withLock { $0.tasks &+= 1 }
            job.complete(outcome(answer, pid: current.pid))
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
        let pollTimeout = remaining.map { Int32(clamping: $0 + 250) } ?? -1
        var descriptor = pollfd(fd: worker.socket, events: Int16(POLLIN), revents: 0)
        let ready = Syscall.retryingEINTR { poll(&descriptor, 1, pollTimeout) }
        if ready == 0 { return .timedOut }
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
        shared.withLock { $0.pid = worker.pid; $0.tasks = 0 }
        logger.info("worker spawned", metadata: ["event": "worker_spawned", "worker": "\(name)", "pid": "\(worker.pid)"])
        return worker
    }

    /// Returns how the worker exited when it already has, reaping it; nil while it runs.
    private func reapIfExited(_ worker: SpawnedWorker) -> String? {
        var status: Int32 = 0
        let result = Syscall.retryingEINTR { waitpid(worker.pid, &status, WNOHANG) }
        guard result == worker.pid else { return nil }
        return Syscall.describeExit(status)
    }

    /// Waits for a worker whose channel has closed, killing it when it lingers.
    private func waitForExit(_ worker: SpawnedWorker) -> String {
        for _ in 0..<Self.stopGraceMilliseconds / 10 {
            if let exit = reapIfExited(worker) { return exit }
            usleep(10_000)
        }
        kill(worker.pid, SIGKILL)
        var status: Int32 = 0
        _ = Syscall.retryingEINTR { waitpid(worker.pid, &status, 0) }
        return Syscall.describeExit(status)
    }

    /// Stops a worker: politely by closing its channel (it exits on EOF), or with SIGTERM;
    /// SIGKILL when it has not exited after the grace period.
    private func stop(_ worker: SpawnedWorker, politely: Bool = true) {
        if !politely { kill(worker.pid, SIGTERM) }
        close(worker.socket)
        _ = waitForExit(worker)
    }
}
