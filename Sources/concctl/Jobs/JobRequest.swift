import ArgumentParser
import ConcClient
import ConcProtocol
import Foundation

/// Sends one job operation on a connection of its own and returns the reply; a connection that
/// fails ends concctl with its exit code (5 or 6).
func sendJobOperation(_ operation: Request.Operation, socketPath: String) async throws -> Reply {
    do {
        let client = try await ConcClient.connect(socketPath: socketPath)
        let reply = try await client.send(operation)
        await client.close()
        return reply
    } catch {
        throw fail(error)
    }
}

/// Prints a refused request's error on stderr and returns the exit code of its class.
func refusal(_ reply: Reply) -> ExitCode {
    printError("concctl: \(reply.error?.message ?? "the daemon refused the request") [\(reply.error?.code.rawValue ?? "internal")]")
    return ExitCode(ExitStatus.code(for: reply.error?.code ?? .internal))
}

/// Prints a value as one line of JSON with concctl's key order.
func printJSONLine(_ value: some Encodable) throws {
    print(String(decoding: try JSONEncoder.concctl.encode(value), as: UTF8.self))
}

/// A job's id as the commands take it: a positive integer, as `submit --durable --detach` printed it.
struct JobID: ExpressibleByArgument, CustomStringConvertible {
    let value: Int64

    init?(argument: String) {
        guard let value = Int64(argument), value > 0 else { return nil }
        self.value = value
    }

    var description: String { String(value) }
}

extension JobState: ExpressibleByArgument {}
