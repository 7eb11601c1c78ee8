import ConcProtocol
import Foundation
import LoopbackHTTP
import NIOCore
import Synchronization
import Testing

import ConcDaemon

/// The built `concd` binary, which can also run as a worker (the fallback when `concd-worker` is missing).
let concdExecutable = builtBinary("concd")

/// The built `concd-worker` binary, which the process pool runs as its workers.
let workerExecutable = builtBinary("concd-worker")

/// A product built beside the test binary (`swift build --build-tests` builds them all).
private func builtBinary(_ name: String) -> String {
    let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return testBinary.deletingLastPathComponent().appendingPathComponent(name).path
}

/// Runs one job on a pool and waits for its outcome.
func run(_ workload: Workload, on pool: any Pool, timeoutMilliseconds: Int64? = nil) async throws -> TaskOutcome {
    try await withCheckedThrowingContinuation { continuation in
        let job = Job(
            workload: workload,
            deadline: timeoutMilliseconds.map { .now() + .milliseconds($0) },
            complete: { continuation.resume(returning: $0) }
        )
        do {
            try pool.submit(job)
        } catch {
            continuation.resume(throwing: error)
        }
    }
}

/// Submits every workload from the calling thread before returning, so that none waits for a free
/// thread of Swift's cooperative pool (which other tests' `cpu` tasks on the async pool can hold
/// for seconds); `outcomes()` then waits for all of them.
func submitAll(_ workloads: [Workload], on pool: any Pool) throws -> Outcomes {
    let outcomes = Outcomes(expected: workloads.count)
    for workload in workloads {
        try pool.submit(Job(workload: workload, deadline: nil) { outcomes.add($0) })
    }
    return outcomes
}

/// The outcomes of jobs submitted by `submitAll`, in completion order.
final class Outcomes: Sendable {
    private struct State {
        var outcomes: [TaskOutcome] = []
        var waiter: CheckedContinuation<[TaskOutcome], Never>?
    }
    private let expected: Int
    private let state = Mutex(State())

    init(expected: Int) {
        self.expected = expected
    }

    fileprivate func add(_ outcome: TaskOutcome) {
        let finished = state.withLock { state -> (CheckedContinuation<[TaskOutcome], Never>, [TaskOutcome])? in
            state.outcomes.append(outcome)
            guard state.outcomes.count == expected, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, state.outcomes)
        }
        if let (waiter, outcomes) = finished { waiter.resume(returning: outcomes) }
    }

    /// Every outcome, once all have arrived.
    func all() async -> [TaskOutcome] {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> [TaskOutcome]? in
                if state.outcomes.count == expected { return state.outcomes }
                state.waiter = continuation
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }
}

/// Polls `condition` every 20 ms for up to `seconds`; returns whether it became true.
func eventually(within seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// A short temporary directory (sun_path holds 108 bytes).
func temporaryDirectory() throws -> String {
    var template = Array("/tmp/concd-XXXXXX".utf8CString)
    guard let path = mkdtemp(&template) else { throw POSIXError(.EIO) }
    return String(cString: path)
}

extension Result where Failure == WireError {
    var errorCode: ErrorCode? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
    var value: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
    var error: WireError? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Starts a loopback HTTP server for the duration of `body`.
func withLoopbackServer<T>(_ body: (LoopbackHTTPServer) async throws -> T) async throws -> T {
    let server = try await LoopbackHTTPServer.start()
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}
