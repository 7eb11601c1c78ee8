import AsyncHTTPClient
import ConcProtocol
import ConcWorkerCore
import NIOCore
import NIOPosix
import Synchronization

/// Swift concurrency on the daemon's event-loop group: each job is a task, so an HTTP GET waiting on
/// the network holds a few hundred bytes, not a thread. The pool bounds the tasks in flight instead
/// of queueing: beyond `limit`, a submission is refused as busy.
package final class AsyncPool: Pool {
    package let name: PoolName
    package var model: PoolModel { .async }
    private let httpClient: HTTPClient
    private let state: Mutex<State>

    private struct State {
        var limit: Int
        var inFlight = 0
        var accepting = true
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    /// Creates a pool that runs up to `limit` tasks at once, with GETs on `eventLoopGroup`.
    /// `connectionsPerHost` bounds the keep-alive connections opened to one server.
    package init(name: PoolName = .async, limit: Int, connectionsPerHost: Int, eventLoopGroup: any EventLoopGroup) {
        self.name = name
        self.state = Mutex(State(limit: limit))
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost
        )
        // AsyncHTTPClient retries a refused connection with backoff until the connect timeout; a user
        // who GETs a dead address wants "connection refused" now, as the blocking GET reports it.
        configuration.connectionPool.retryConnectionEstablishment = false
        // The blocking GET (libcurl) follows no redirects; both models must do the same work.
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(30))
        self.httpClient = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: configuration)
    }

    package func start() async throws {}

    /// Changes the in-flight limit; tasks already running beyond a lower limit finish normally.
    package func resize(size: Int, queueLimit: Int) async throws {
        state.withLock { $0.limit = size }
    }

    package func submit(_ job: Job) throws(WireError) {
        let refusal = state.withLock { state -> WireError? in
            guard state.accepting else {
                return WireError(.shuttingDown, "concd is shutting down and takes no new tasks")
            }
            guard state.inFlight < state.limit else {
                return WireError(.busy, "the async pool has \(state.limit) tasks in flight, its limit; try again later")
            }
            state.inFlight += 1
            return nil
        }
        if let refusal { throw refusal }
        if case .noop = job.workload {
            // Nothing to await: answering on the caller's thread (the event loop) saves a task,
            // a hop to the cooperative pool and back, and a thread wake-up each way.
            job.complete(TaskOutcome(result: .success(.empty), worker: name.rawValue, workerPID: nil))
            finished()
            return
        }
        Task {
            let result = await run(job)
            job.complete(TaskOutcome(result: result, worker: name.rawValue, workerPID: nil))
            finished()
        }
    }

    private func finished() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inFlight -= 1
            guard state.inFlight == 0, !state.accepting else { return [] }
            defer { state.drained.removeAll() }
            return state.drained
        }
        for waiter in waiters { waiter.resume() }
    }

    package func snapshot() -> PoolSnapshot {
        let (limit, inFlight) = state.withLock { ($0.limit, $0.inFlight) }
        return PoolSnapshot(size: limit, busy: inFlight, queued: 0, queueLimit: 0)
    }

    package func shutdown() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                state.accepting = false
                if state.inFlight == 0 { return true }
                state.drained.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        try? await httpClient.shutdown()
    }

    private func run(_ job: Job) async -> Result<TaskValue, WireError> {
        guard let remaining = job.remaining() else { return await perform(job.workload, deadline: nil) }
        guard remaining > .zero else { return .failure(.expiredInQueue(job.workload)) }
        return await withTaskGroup(of: Result<TaskValue, WireError>?.self) { group in
            group.addTask { await self.perform(job.workload, deadline: job.deadline) }
            group.addTask {
                try? await Task.sleep(for: .nanoseconds(remaining.nanoseconds))
                return nil
            }
            let first = await group.next()!
            group.cancelAll()
            return first ?? .failure(WireError(.timeout, "\(job.workload) did not finish within its deadline and was cancelled"))
        }
    }

    private func perform(_ workload: Workload, deadline: NIODeadline?) async -> Result<TaskValue, WireError> {
        switch workload {
        case .cpu(let n):
            // Deliberately on the cooperative pool: this is the row of the comparison that shows
            // what CPU-bound work does to an async executor.
            return .success(.integer(CPULoop.sum(upTo: n)))
        case .sleep(let milliseconds):
            do {
                try await Task.sleep(for: .milliseconds(milliseconds))
                return .success(.integer(milliseconds))
            } catch {
                return .failure(WireError(.timeout, "sleep \(milliseconds) was cancelled"))
            }
        case .noop:
            return .success(.empty)
        case .async(let url):
            return await get(url, deadline: deadline ?? .now() + .seconds(BlockingWorkload.defaultHTTPTimeoutMilliseconds / 1000))
        case .io:
            return .failure(WireError(.unsupportedPool, "blocking GETs would stall the async pool; use kind async"))
        case .call:
            return .failure(WireError(.unsupportedPool, "a call runs on a pool that runs a program, not the async pool"))
        case .exec:
            return .failure(WireError(.unsupportedPool, "a command runs on a thread pool, not the async pool"))
        }
    }

    private func get(_ url: String, deadline: NIODeadline) async -> Result<TaskValue, WireError> {
        let started = NIODeadline.now()
        do {
            let response = try await httpClient.execute(HTTPClientRequest(url: url), deadline: deadline)
            var bytes: UInt64 = 0
            for try await chunk in response.body {
                bytes += UInt64(chunk.readableBytes)
            }
            let elapsed = UInt64((NIODeadline.now() - started).nanoseconds / 1000)
            return .success(.http(HTTPSummary(status: Int(response.status.code), bytes: bytes, timeMicroseconds: elapsed)))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .failure(WireError(.timeout, "GET \(url) timed out: \(error)"))
        } catch is CancellationError {
            return .failure(WireError(.timeout, "GET \(url) was cancelled at its deadline"))
        } catch {
            return .failure(WireError(.httpFailed, "GET \(url) failed: \(error)"))
        }
    }
}
