import ConcProtocol
import Foundation

extension ConcClient {
    /// Calls `function` of the program that `pool` runs (pools.NAME.command) with `arguments`, and
    /// returns what it returned. A task that ran and failed (the function raised: `task_failed`, with
    /// its type and traceback; its worker died; its deadline passed) throws
    /// ``ConcClientError/taskFailed(_:)``; a request the daemon refused throws ``ConcClientError/rejected(_:)``.
    public func call(
        _ pool: PoolName, _ function: String, arguments: JSONText = .null, timeout: Duration? = nil, retries: Int = 0
    ) async throws(ConcClientError) -> JSONText {
        let reply = try await submitChecked(.call(function: function, arguments: arguments), pool: pool, timeout: timeout, retries: retries)
        switch reply.value {
        case .json(let result)?: return result
        case .integer(let integer)?: return JSONText(parsing: String(integer)) ?? .null
        case nil, .empty?: return .null
        case .http?, .command?:
            throw .protocolViolation("a call was answered with a built-in workload's value")
        }
    }

    /// ``call(_:_:arguments:timeout:retries:)`` with `Codable` arguments and result: `arguments` is
    /// encoded as JSON (an object for keyword arguments, an array for positional ones) and the
    /// result decoded as `Output`. Throws ``ConcClientError``, or the coder's error when the
    /// arguments cannot be encoded or the result is not an `Output`.
    public func call<Arguments: Encodable, Output: Decodable>(
        _ pool: PoolName, _ function: String, _ arguments: Arguments, returning: Output.Type = Output.self,
        timeout: Duration? = nil, retries: Int = 0
    ) async throws -> Output {
        guard let encoded = JSONText(parsing: Array(try JSONEncoder().encode(arguments))) else {
            throw ConcClientError.rejected(WireError(.invalidArgument, "the arguments could not be written as JSON"))
        }
        let result = try await call(pool, function, arguments: encoded, timeout: timeout, retries: retries)
        return try JSONDecoder().decode(Output.self, from: Data(result.text.utf8))
    }

    /// Calls `function` once for each of `argumentLists`, all in flight at once on this connection
    /// (pipelined: the pool's workers take them as they free up), and returns the outcomes in the
    /// order of the arguments.
    public func map(
        _ pool: PoolName, _ function: String, _ argumentLists: [JSONText], timeout: Duration? = nil
    ) async -> [Result<JSONText, ConcClientError>] {
        await withTaskGroup(of: (Int, Result<JSONText, ConcClientError>).self) { group in
            for (index, arguments) in argumentLists.enumerated() {
                group.addTask {
                    do throws(ConcClientError) {
                        return (index, .success(try await self.call(pool, function, arguments: arguments, timeout: timeout)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var outcomes = [Result<JSONText, ConcClientError>](repeating: .failure(.connectionClosed(socketPath: socketPath)), count: argumentLists.count)
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes
        }
    }

    /// Runs a command (`argv[0]` a path or a name in the daemon's PATH; no shell) on a parked thread
    /// of `pool` (default: the thread pool) and returns how it ended and what it wrote. A command
    /// that exits non-zero is a result, not an error; its deadline passing throws
    /// ``ConcClientError/taskFailed(_:)`` with `timeout`, and a program the caller may not run
    /// ``ConcClientError/rejected(_:)`` with `permission_denied`.
    public func exec(_ argv: [String], pool: PoolName? = nil, timeout: Duration? = nil) async throws(ConcClientError) -> CommandResult {
        let reply = try await submitChecked(.exec(argv: argv), pool: pool, timeout: timeout, retries: 0)
        guard case .command(let result)? = reply.value else {
            throw .protocolViolation("an exec was answered without the command's result")
        }
        return result
    }

    /// Submits `workload` and returns the reply when the task succeeded; a refusal or a failure throws.
    private func submitChecked(
        _ workload: Workload, pool: PoolName?, timeout: Duration?, retries: Int
    ) async throws(ConcClientError) -> Reply {
        let submission: Submission
        do {
            submission = try Submission(
                workload: try Workload.validated(workload), pool: pool,
                timeoutMilliseconds: timeout.map { max(1, Int64($0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000)) },
                retries: retries
            )
        } catch {
            throw .rejected(error)
        }
        let reply = try await submit(submission)
        guard reply.ok else {
            let error = reply.error ?? WireError(.internal, "the daemon answered a task with neither a value nor an error")
            throw error.code.isRequestError ? .rejected(error) : .taskFailed(error)
        }
        return reply
    }
}
