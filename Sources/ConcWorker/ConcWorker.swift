import ConcProtocol
import Foundation

/// One function a Swift worker program offers to its pool: it takes the call's arguments (any JSON)
/// and returns its result (any JSON), or throws, which the client gets as `task_failed` with the
/// error's type and description.
public struct WorkerFunction: Sendable {
    let body: @Sendable (JSONText) throws -> JSONText

    /// A function of the arguments' JSON text to the result's.
    public init(_ body: @escaping @Sendable (JSONText) throws -> JSONText) {
        self.body = body
    }

    /// A function whose arguments are decoded as `Arguments` and whose result is encoded as JSON
    /// (`Codable` types, as the client's `call` sends and reads them).
    public static func typed<Arguments: Decodable & SendableMetatype, Output: Encodable & SendableMetatype>(
        _ body: @escaping @Sendable (Arguments) throws -> Output
    ) -> WorkerFunction {
        WorkerFunction { arguments in
            let decoded = try JSONDecoder().decode(Arguments.self, from: Data(arguments.text.utf8))
            let encoded = try JSONEncoder().encode(body(decoded))
            guard let result = JSONText(parsing: Array(encoded)) else { throw ResultNotJSON() }
            return result
        }
    }

    struct ResultNotJSON: Error, CustomStringConvertible {
        var description: String { "the function's result could not be written as JSON" }
    }
}

/// The worker side of concd's worker protocol (docs/worker-protocol.md) for a Swift program: it says
/// it is ready, listing its functions, then answers each call on the channel concd gave it, one at
/// a time, until concd closes the channel. Standard output and error stay free for the program's
/// own messages, which concd logs with the worker's name.
///
/// ```swift
/// import ConcWorker
/// ConcWorker.run([
///     "add": .typed { (numbers: [Int]) in numbers.reduce(0, +) },
/// ])
/// ```
public enum ConcWorker {
    /// Serves calls on the channel named in `CONCD_WORKER_FD` until concd closes it, then exits 0.
    /// A program started without that variable was not started by concd: it says so and exits 64.
    public static func run(_ functions: [String: WorkerFunction]) -> Never {
        guard let text = ProcessInfo.processInfo.environment[UserWorkerProtocol.descriptorVariable], let descriptor = Int32(text) else {
            FileHandle.standardError.write(Data("this program is a concd worker: run it from a pool's command (\(UserWorkerProtocol.descriptorVariable) is not set)\n".utf8))
            exit(64)
        }
        do {
            try serve(functions, descriptor: descriptor)
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("concd worker: \(error)\n".utf8))
            exit(1)
        }
    }

    /// Serves calls on `descriptor` until end of file.
    public static func serve(_ functions: [String: WorkerFunction], descriptor: Int32) throws {
        let channel = Channel(descriptor: descriptor)
        let ready = Ready(ready: true, protocolVersion: UserWorkerProtocol.version, functions: functions.keys.sorted(), pid: getpid())
        try channel.write(JSONEncoder().encode(ready) + [UInt8(ascii: "\n")])
        while let line = try channel.readLine() {
            let call: Call
            do {
                call = try JSONDecoder().decode(Call.self, from: Data(line))
            } catch {
                throw ChannelError(description: "concd sent a line that is not a call: \(error)")
            }
            try channel.write(answer(call, functions))
        }
    }

    /// The result line for `call`.
    static func answer(_ call: Call, _ functions: [String: WorkerFunction]) -> [UInt8] {
        let outcome: Result<JSONText, any Error>
        if let function = functions[call.fn] {
            outcome = Result { try function.body(call.args ?? .null) }
        } else {
            outcome = .failure(NoSuchFunction(name: call.fn, known: functions.keys.sorted()))
        }
        switch outcome {
        case .success(let result):
            return Array(#"{"id":\#(call.id),"ok":true,"result":\#(result.text)}"#.utf8) + [UInt8(ascii: "\n")]
        case .failure(let error):
            let failure = Failure(
                id: call.id, ok: false,
                error: .init(type: String(describing: type(of: error)), message: String(describing: error))
            )
            return ((try? JSONEncoder().encode(failure)) ?? Data(#"{"id":\#(call.id),"ok":false}"#.utf8)) + [UInt8(ascii: "\n")]
        }
    }

    struct Call: Decodable {
        var id: UInt64
        var fn: String
        var args: JSONText?
    }

    struct Ready: Encodable {
        var ready: Bool
        var protocolVersion: Int
        var functions: [String]
        var pid: Int32

        enum CodingKeys: String, CodingKey {
            case ready, functions, pid
            case protocolVersion = "protocol"
        }
    }

    struct Failure: Encodable {
        struct Detail: Encodable {
            var type: String
            var message: String
        }
        var id: UInt64
        var ok: Bool
        var error: Detail
    }

    struct NoSuchFunction: Error, CustomStringConvertible {
        var name: String
        var known: [String]
        var description: String { "this worker has no function '\(name)'; it has: \(known.joined(separator: ", "))" }
    }

    struct ChannelError: Error, CustomStringConvertible {
        var description: String
    }

    /// The worker's end of its socket: whole writes, and lines read through a buffer.
    final class Channel {
        let descriptor: Int32
        private var buffer: [UInt8] = []

        init(descriptor: Int32) {
            self.descriptor = descriptor
        }

        func write(_ bytes: some Collection<UInt8>) throws {
            var rest = Array(bytes)[...]
            while !rest.isEmpty {
                let written = rest.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw ChannelError(description: "writing to concd failed: \(String(cString: strerror(errno)))")
                }
                rest = rest.dropFirst(written)
            }
        }

        /// The next line without its newline, or nil at end of file.
        func readLine() throws -> [UInt8]? {
            while true {
                if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    defer { buffer.removeSubrange(...newline) }
                    return Array(buffer[..<newline])
                }
                var chunk = [UInt8](repeating: 0, count: 65_536)
                let count = chunk.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw ChannelError(description: "reading from concd failed: \(String(cString: strerror(errno)))")
                }
                if count == 0 { return nil }
                buffer.append(contentsOf: chunk[..<count])
            }
        }
    }
}
