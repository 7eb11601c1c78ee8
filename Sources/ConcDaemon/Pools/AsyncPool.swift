import AsyncHTTPClient
import ConcProtocol
import ConcWorkerCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Swift concurrency on the daemon's event-loop group: each job is a task, so an HTTP GET waiting on
/// the network holds a few hundred bytes, not a thread. The pool bounds the tasks in flight instead
/// of queueing: beyond `limit`, a submission is refused as busy. GETs to one server go through
/// that server's ``ConnectionWindow``, so that a burst does not overflow a small server's backlog.
package final class AsyncPool: Pool {
    package let name: PoolName
    package var model: PoolModel { .async }
    private let httpClient: HTTPClient
    private let state: Mutex<State>
    private let windows: Mutex<Windows>
    private let connectionsPerHost: Int
    private let eventLoopGroup: any EventLoopGroup

    /// Each server's window, and the GETs waiting for one, by id.
    private struct Windows {
        var servers: [String: ConnectionWindow] = [:]
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        /// Decisions taken before their GET began to wait (admitted: true, withdrawn: false).
        var decided: [UInt64: Bool] = [:]
        var nextID: UInt64 = 0
    }

    private struct State {
        var limit: Int
        var inFlight = 0
        var accepting = true
        var drained: [CheckedContinuation<Void, Never>] = []
        /// The tasks of tagged jobs (fleet jobs), so that ``stop(tag:)`` can cancel them.
        var tagged: [UInt64: Task<Void, Never>] = [:]
        /// Tagged jobs that finished before their task was filed.
        var taggedDone: Set<UInt64> = []
    }

    /// Creates a pool that runs up to `limit` tasks at once, with GETs on `eventLoopGroup`.
    /// `connectionsPerHost` bounds the keep-alive connections opened to one server.
    package init(name: PoolName = .async, limit: Int, connectionsPerHost: Int, eventLoopGroup: any EventLoopGroup) {
        self.name = name
        self.state = Mutex(State(limit: limit))
        self.windows = Mutex(Windows())
        self.connectionsPerHost = connectionsPerHost
        self.eventLoopGroup = eventLoopGroup
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
        let task = Task {
            let result = await run(job)
            if let tag = job.tag {
                state.withLock { state in
                    if state.tagged.removeValue(forKey: tag) == nil { state.taggedDone.insert(tag) }
                }
            }
            job.complete(TaskOutcome(result: result, worker: name.rawValue, workerPID: nil))
            finished()
        }
        if let tag = job.tag {
            state.withLock { state in
                if state.taggedDone.remove(tag) == nil { state.tagged[tag] = task }
            }
        }
    }

    /// Cancels the task of the job tagged `tag`: a sleep or a GET ends at once, answered as cancelled
    /// at its deadline would be.
    package func stop(tag: UInt64) -> Bool {
        guard let task = state.withLock({ $0.tagged.removeValue(forKey: tag) }) else { return false }
        task.cancel()
        return true
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
        let server = Self.server(of: url)
        guard let admitted = await admit(to: server) else {
            return .failure(WireError(.timeout, "GET \(url) was cancelled at its deadline while waiting for a connection"))
        }
        let delegate = GetDelegate { [self] in
            let now = NIODeadline.now()
            windows.withLock { $0.servers[server]?.connected(admitted: admitted, connectTime: now - admitted, now: now) }
        }
        defer { release(server, answeredIn: delegate.answered.map { $0 - admitted }, admitted: admitted) }
        do {
            let task = httpClient.execute(request: try HTTPClient.Request(url: url), delegate: delegate, deadline: deadline)
            let (status, bytes) = try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
            let elapsed = UInt64((NIODeadline.now() - started).nanoseconds / 1000)
            return .success(.http(HTTPSummary(status: status, bytes: bytes, timeMicroseconds: elapsed)))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .failure(WireError(.timeout, "GET \(url) timed out: \(error)"))
        } catch let error as HTTPClientError where error == .cancelled {
            return .failure(WireError(.timeout, "GET \(url) was cancelled at its deadline"))
        } catch is CancellationError {
            return .failure(WireError(.timeout, "GET \(url) was cancelled at its deadline"))
        } catch {
            return .failure(WireError(.httpFailed, "GET \(url) failed: \(error)"))
        }
    }

    /// The part of a URL that names its server: `http://host:port`.
    static func server(of url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        return String(url[..<(rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex)])
    }

    /// Waits for a place in `server`'s window; returns when it was given, or nil when the task was
    /// cancelled first (its deadline).
    private func admit(to server: String) async -> NIODeadline? {
        let (id, now, probe) = windows.withLock { windows -> (UInt64, Bool, Bool) in
            let id = windows.nextID
            windows.nextID += 1
            if windows.servers[server] == nil {
                // Windows of servers not in use are forgotten once there are many.
                if windows.servers.count >= 4096 { windows.servers = windows.servers.filter { !$0.value.isIdle } }
                windows.servers[server] = ConnectionWindow(maximum: connectionsPerHost)
            }
            let now = windows.servers[server]!.request(id: id)
            return (id, now, now && windows.servers[server]!.probing)
        }
        if probe {
            // The server's first GET: the others follow it once it answers or its time is up.
            eventLoopGroup.next().scheduleTask(in: ConnectionWindow.probeTime) { [self] in
                resume { $0.servers[server]?.probeTimeElapsed() ?? [] }
            }
        }
        if now { return .now() }
        let admitted = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let decided = windows.withLock { windows -> Bool? in
                    if let decided = windows.decided.removeValue(forKey: id) { return decided }
                    windows.waiters[id] = continuation
                    return nil
                }
                if let decided { continuation.resume(returning: decided) }
            }
        } onCancel: {
            let waiter = windows.withLock { windows -> CheckedContinuation<Bool, Never>? in
                // Admitted already: it runs, is cancelled at once, and gives its place back.
                guard windows.servers[server]?.withdraw(id: id) == true else { return nil }
                guard let waiter = windows.waiters.removeValue(forKey: id) else {
                    windows.decided[id] = false
                    return nil
                }
                return waiter
            }
            waiter?.resume(returning: false)
        }
        return admitted ? .now() : nil
    }

    /// A GET to `server` finished: its place goes to the next that waits.
    private func release(_ server: String, answeredIn: TimeAmount?, admitted: NIODeadline) {
        let now = NIODeadline.now()
        resume { $0.servers[server]?.finished(answeredIn: answeredIn, admitted: admitted, now: now) ?? [] }
    }

    /// Lets the GETs that `decide` admits (a window's decision, under the lock) go on.
    private func resume(_ decide: (inout Windows) -> [UInt64]) {
        let resumed = windows.withLock { windows -> [CheckedContinuation<Bool, Never>] in
            decide(&windows).compactMap { id in
                guard let waiter = windows.waiters.removeValue(forKey: id) else {
                    windows.decided[id] = true
                    return nil
                }
                return waiter
            }
        }
        for waiter in resumed { waiter.resume(returning: true) }
    }
}

/// Counts a GET's response and says when its request went out on a connection, which is when the
/// connection was there: the window's signal.
private final class GetDelegate: HTTPClientResponseDelegate {
    typealias Response = (status: Int, bytes: UInt64)
    private let onRequestSent: @Sendable () -> Void
    private let received = Mutex<(status: Int, bytes: UInt64, answered: NIODeadline?)>((0, 0, nil))

    /// When the response's head came, if it did.
    var answered: NIODeadline? { received.withLock { $0.answered } }

    init(onRequestSent: @escaping @Sendable () -> Void) {
        self.onRequestSent = onRequestSent
    }

    func didSendRequestHead(task: HTTPClient.Task<Response>, _ head: HTTPRequestHead) {
        onRequestSent()
    }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        received.withLock {
            $0.status = Int(head.status.code)
            $0.answered = .now()
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        received.withLock { $0.bytes += UInt64(buffer.readableBytes) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        received.withLock { ($0.status, $0.bytes) }
    }
}
