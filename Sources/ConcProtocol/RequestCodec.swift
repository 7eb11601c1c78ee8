import Foundation
import NIOCore

/// Turns frames into ``Request``s and back. Decoding never throws anything but a ``RequestDecodingError``,
/// which carries the request's id when it could be read, so the reply can still be matched.
public enum RequestCodec {
    /// Decodes one frame (a JSON object, without its newline).
    public static func decode(_ frame: some Collection<UInt8>) throws(RequestDecodingError) -> Request {
        let fast = frame.withContiguousStorageIfAvailable(fastDecode) ?? Array(frame).withUnsafeBufferPointer(fastDecode)
        return try decode(frame, after: fast)
    }

    /// Decodes one frame held in a `ByteBuffer` (as the daemon reads them), without its newline.
    public static func decode(_ frame: ByteBuffer) throws(RequestDecodingError) -> Request {
        let fast = frame.withUnsafeReadableBytes { fastDecode($0.assumingMemoryBound(to: UInt8.self)) }
        return try decode(frame.readableBytesView, after: fast)
    }

    /// What the hand-written reader made of a frame.
    private enum FastReading {
        /// It read the frame: the request, or why it is refused.
        case read(Result<Request, RequestDecodingError>)
        /// It left the frame to Foundation, or to a quick refusal when the frame cannot be JSON.
        case left(cannotBeJSON: Bool)
    }

    /// The hand-written reading of `bytes`. The wire form is turned into a request here, where it
    /// was read: returned, it was copied and destroyed twice more (about 1 000 instructions a frame).
    private static func fastDecode(_ bytes: UnsafeBufferPointer<UInt8>) -> FastReading {
        var wire = WireRequest()
        guard WireRequest.fast(bytes, into: &wire) else { return .left(cannotBeJSON: cannotBeJSON(bytes)) }
        do {
            return .read(.success(try wire.request()))
        } catch {
            return .read(.failure(RequestDecodingError(id: wire.id, error: error)))
        }
    }

    private static func decode(_ frame: some Collection<UInt8>, after fast: FastReading) throws(RequestDecodingError) -> Request {
        switch fast {
        case .read(let result):
            return try result.get()
        case .left(cannotBeJSON: true):
            // What Foundation would say, without its two readings (about 17 000 instructions a
            // frame): a client sending garbage costs the daemon little more than its reply.
            throw RequestDecodingError(id: nil, error: notJSON)
        case .left(cannotBeJSON: false):
            let wire = try foundationDecode(frame)
            do {
                return try wire.request()
            } catch {
                throw RequestDecodingError(id: wire.id, error: error)
            }
        }
    }

    private static let notJSON = WireError(.invalidJSON, "the frame is not valid JSON")

    /// Whether `frame` is read by the hand-written reader, without Foundation (for tests: a frame
    /// the fast reader misses is still read right, only at several times the cost).
    package static func readsWithoutFoundation(_ frame: [UInt8]) -> Bool {
        var wire = WireRequest()
        return frame.withUnsafeBufferPointer { WireRequest.fast($0, into: &wire) }
    }

    /// Whether `bytes` cannot be a JSON text whatever follows, by the grammar alone: its first byte
    /// past white space cannot start a value, or it starts an object or array and does not end
    /// one. Only for bytes Foundation reads as UTF-8 (no NUL, no byte-order mark), since it would
    /// read UTF-16 and UTF-32 too.
    package static func cannotBeJSON(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        // Nothing but white space is no JSON text.
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else {
            return true
        }
        if bytes.contains(0) { return false }
        switch bytes[first] {
        case 0xEF, 0xFE, 0xFF: return false
        case UInt8(ascii: "{"): return bytes[last] != UInt8(ascii: "}") || first == last
        case UInt8(ascii: "["): return bytes[last] != UInt8(ascii: "]") || first == last
        case UInt8(ascii: "\""), UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "t"), UInt8(ascii: "f"),
            UInt8(ascii: "n"):
            return false
        default: return true
        }
    }

    /// Foundation's reading of a frame the fast reader did not take, with a sentence for each way it is wrong.
    private static func foundationDecode(_ frame: some Collection<UInt8>) throws(RequestDecodingError) -> WireRequest {
        let data = Data(frame)
        let wire: WireRequest
        do {
            wire = try JSONDecoder().decode(WireRequest.self, from: data)
        } catch let error as DecodingError {
            // Text that is not JSON has no id to read, and a second reading would only say so again.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                throw RequestDecodingError(id: nil, error: describe(error))
            }
            let id = try? JSONDecoder().decode(IDOnly.self, from: data).id
            throw RequestDecodingError(id: id, error: describe(error))
        } catch let error as WireError {
            let id = try? JSONDecoder().decode(IDOnly.self, from: data).id
            throw RequestDecodingError(id: id, error: error)
        } catch {
            throw RequestDecodingError(id: nil, error: WireError(.invalidJSON, "the frame is not a JSON object"))
        }
        return wire
    }

    /// Encodes a request as one frame (no newline).
    public static func encode(_ request: Request) -> [UInt8] {
        // Keys in the order Foundation's encoder writes a WireRequest.
        var writer = JSONWriter(capacity: 128)
        writer.raw(#"{"v":"#)
        writer.signed(Int64(ProtocolLimits.version))
        if let id = request.id {
            writer.raw(#","id":"#)
            writer.unsigned(id)
        }
        writer.raw(#","op":"#)
        switch request.operation {
        case .ping, .status, .metrics, .reload, .shutdown:
            writer.string(request.operation.name)
        case .submit(let submission):
            writer.raw(#""submit","kind":"#)
            writer.string(submission.workload.kind.rawValue)
            switch submission.workload {
            case .cpu(let n):
                writer.raw(#","n":"#)
                writer.signed(n)
            case .sleep(let ms):
                writer.raw(#","ms":"#)
                writer.signed(ms)
            case .io(let url), .async(let url):
                writer.raw(#","url":"#)
                writer.string(url)
            case .noop: break
            case .call(let function, let arguments):
                writer.raw(#","fn":"#)
                writer.string(function)
                writer.raw(#","args":"#)
                var text = arguments.text
                text.withUTF8 { writer.bytes.append(contentsOf: $0) }
            case .exec(let argv):
                writer.raw(#","argv":["#)
                for (index, argument) in argv.enumerated() {
                    if index > 0 { writer.bytes.append(UInt8(ascii: ",")) }
                    writer.string(argument)
                }
                writer.bytes.append(UInt8(ascii: "]"))
            }
            if let pool = submission.pool {
                writer.raw(#","pool":"#)
                writer.string(pool.rawValue)
            }
            if let timeout = submission.timeoutMilliseconds {
                writer.raw(#","timeout_ms":"#)
                writer.signed(timeout)
            }
            if submission.retries > 0 {
                writer.raw(#","retries":"#)
                writer.signed(Int64(submission.retries))
            }
            if let durability = submission.durability {
                writer.raw(#","durable":true"#)
                if durability.detach { writer.raw(#","detach":true"#) }
                if let attempts = durability.maxAttempts {
                    writer.raw(#","attempts":"#)
                    writer.signed(Int64(attempts))
                }
            }
        case .resize(let pool, let size):
            writer.raw(#""resize","pool":"#)
            writer.string(pool.rawValue)
            writer.raw(#","size":"#)
            writer.signed(Int64(size))
        case .killWorker(let pid):
            writer.raw(#""kill_worker","pid":"#)
            writer.signed(Int64(pid))
        case .job(let job), .waitJob(let job), .cancelJob(let job):
            writer.string(request.operation.name)
            writer.raw(#","job":"#)
            writer.signed(job)
        case .jobs(let state, let limit):
            writer.raw(#""jobs""#)
            if let state {
                writer.raw(#","state":"#)
                writer.string(state.rawValue)
            }
            writer.raw(#","limit":"#)
            writer.signed(Int64(limit))
        }
        writer.bytes.append(UInt8(ascii: "}"))
        return writer.bytes
    }

    private static func describe(_ error: DecodingError) -> WireError {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            if let field = context.codingPath.first?.stringValue {
                return WireError(.badRequest, "field '\(field)' has the wrong type (\(expectation(field)))")
            }
            return WireError(.invalidJSON, "the frame is not a JSON object")
        case .dataCorrupted(let context):
            if let field = context.codingPath.first?.stringValue {
                return WireError(.invalidArgument, "field '\(field)' is out of range (\(expectation(field)))")
            }
            return WireError(.invalidJSON, "the frame is not valid JSON")
        case .keyNotFound(let key, _):
            return WireError(.badRequest, "field '\(key.stringValue)' is missing")
        @unknown default:
            return WireError(.invalidJSON, "the frame is not valid JSON")
        }
    }

    private static func expectation(_ field: String) -> String {
        switch field {
        case "id": return "expected an integer 0...\(UInt64.max)"
        case "v": return "expected the integer \(ProtocolLimits.version)"
        case "n", "ms", "timeout_ms", "retries", "size", "pid": return "expected an integer"
        case "argv": return "expected a list of strings: the program, then its arguments"
        default: return "expected a string"
        }
    }

    private struct IDOnly: Decodable {
        var id: UInt64?
    }
}

/// A frame that could not be turned into a request.
public struct RequestDecodingError: Error, Sendable, Equatable {
    /// The request's id, when it could be read.
    public var id: UInt64?
    /// What was wrong.
    public var error: WireError
}

/// The flat JSON shape of a request; every field optional so that each missing or mistyped one gets its own sentence.
struct WireRequest: Codable {
    var v: Int?
    var id: UInt64?
    var op: String?
    var kind: String?
    /// `op` and `kind` when the fast reader knew the names: matched as bytes, so no string is made
    /// and none is compared again (about 500 instructions a request). Then `op` and `kind` stay nil.
    var knownOp: Operation?
    var knownKind: WorkloadKind?
    /// `pool` when it names a built-in pool, read the same way (its name is then not checked again).
    var knownPool: PoolName?
    var n: Int64?
    var ms: Int64?
    var url: String?
    var pool: String?
    var timeoutMilliseconds: Int64?
    var retries: Int64?
    var size: Int64?
    var pid: Int64?
    /// For a call: the function's name and its arguments (any JSON: the fast reader checks it and
    /// keeps its text; Foundation's reads it and writes it compact).
    var fn: String?
    var args: JSONText?
    /// For exec: the program and its arguments (a list, so Foundation's reader takes such a request).
    var argv: [String]?
    /// For a durable submission.
    var durable: Bool?
    var detach: Bool?
    var attempts: Int64?
    /// For job, wait and cancel: the job's id; for jobs: a state and how many.
    var job: Int64?
    var state: String?
    var limit: Int64?

    enum CodingKeys: String, CodingKey {
        case v, id, op, kind, n, ms, url, pool, retries, size, pid, fn, args, argv
        case durable, detach, attempts, job, state, limit
        case timeoutMilliseconds = "timeout_ms"
    }

    init() {}

    /// Reads the request in `bytes` into `wire` (made empty) and returns true when every field is of
    /// the type it should be and no key is unknown or repeated; else false, and Foundation's decoder
    /// reads it and says what is wrong. Keys are matched as bytes, so a request costs no string but
    /// its few string values. Written in place: a returned request was copied once more.
    static func fast(_ bytes: UnsafeBufferPointer<UInt8>, into wire: inout WireRequest) -> Bool {
        var seen: UInt32 = 0
        let read = FlatJSON.scalarMembers(bytes, rawKey: "args") { key, value in
            // An unknown key (even with a null value) or a repeated one is left to Foundation.
            guard let field = Field(key), seen & field.bit == 0 else { return false }
            seen |= field.bit
            if case .null = value { return true }
            switch field {
            case .v:
                guard let v = value.int64 else { return false }
                wire.v = Int(clamping: v)
            case .id:
                guard case .unsigned(let id) = value else { return false }
                wire.id = id
            case .n, .ms, .timeoutMilliseconds, .retries, .size, .pid, .attempts, .job, .limit:
                guard let number = value.int64 else { return false }
                switch field {
                case .n: wire.n = number
                case .ms: wire.ms = number
                case .timeoutMilliseconds: wire.timeoutMilliseconds = number
                case .retries: wire.retries = number
                case .size: wire.size = number
                case .attempts: wire.attempts = number
                case .job: wire.job = number
                case .limit: wire.limit = number
                default: wire.pid = number
                }
            case .durable, .detach:
                guard case .bool(let flag) = value else { return false }
                if field == .durable { wire.durable = flag } else { wire.detach = flag }
            case .op, .kind, .url, .pool, .fn, .state:
                guard case .string(let bytes) = value else { return false }
                if field == .op, let known = Operation(bytes) {
                    wire.knownOp = known
                    return true
                }
                if field == .kind, let known = WorkloadKind(utf8: bytes) {
                    wire.knownKind = known
                    return true
                }
                if field == .pool, let known = PoolModel(utf8: bytes).map(PoolName.builtIn) {
                    wire.knownPool = known
                    return true
                }
                let text = String(decoding: bytes, as: UTF8.self)
                switch field {
                case .op: wire.op = text
                case .kind: wire.kind = text
                case .url: wire.url = text
                case .fn: wire.fn = text
                case .state: wire.state = text
                default: wire.pool = text
                }
            case .args:
                guard case .raw(let text) = value else { return false }
                wire.args = JSONText(trusted: String(decoding: text, as: UTF8.self))
            }
            return true
        }
        return read
    }

    /// The keys the fast reader knows, each a bit of the set of keys seen.
    private enum Field: UInt32 {
        case v, id, op, kind, n, ms, url, pool, timeoutMilliseconds, retries, size, pid, fn, args
        case durable, detach, attempts, job, state, limit

        var bit: UInt32 { 1 << rawValue }

        var key: StaticString {
            switch self {
            case .v: return "v"
            case .id: return "id"
            case .op: return "op"
            case .kind: return "kind"
            case .n: return "n"
            case .ms: return "ms"
            case .url: return "url"
            case .pool: return "pool"
            case .timeoutMilliseconds: return "timeout_ms"
            case .retries: return "retries"
            case .size: return "size"
            case .pid: return "pid"
            case .fn: return "fn"
            case .args: return "args"
            case .durable: return "durable"
            case .detach: return "detach"
            case .attempts: return "attempts"
            case .job: return "job"
            case .state: return "state"
            case .limit: return "limit"
            }
        }

        /// The field whose key is `bytes`, compared byte for byte (no String is made). Only the
        /// field that the key's length and first byte point at is compared: a frame's five keys
        /// cost about 100 instructions, not 600.
        init?(_ bytes: UnsafeBufferPointer<UInt8>) {
            guard let first = bytes.first else { return nil }
            let field: Field
            switch (bytes.count, first) {
            case (1, UInt8(ascii: "v")): field = .v
            case (1, UInt8(ascii: "n")): field = .n
            case (2, UInt8(ascii: "i")): field = .id
            case (2, UInt8(ascii: "o")): field = .op
            case (2, UInt8(ascii: "m")): field = .ms
            case (2, UInt8(ascii: "f")): field = .fn
            case (3, UInt8(ascii: "u")): field = .url
            case (3, UInt8(ascii: "p")): field = .pid
            case (3, UInt8(ascii: "j")): field = .job
            case (4, UInt8(ascii: "k")): field = .kind
            case (4, UInt8(ascii: "p")): field = .pool
            case (4, UInt8(ascii: "s")): field = .size
            case (4, UInt8(ascii: "a")): field = .args
            case (5, UInt8(ascii: "s")): field = .state
            case (5, UInt8(ascii: "l")): field = .limit
            case (6, UInt8(ascii: "d")): field = .detach
            case (7, UInt8(ascii: "r")): field = .retries
            case (7, UInt8(ascii: "d")): field = .durable
            case (8, UInt8(ascii: "a")): field = .attempts
            case (10, UInt8(ascii: "t")): field = .timeoutMilliseconds
            default: return nil
            }
            let key = field.key
            guard key.utf8CodeUnitCount == bytes.count else { return nil }
            var index = 1
            while index < bytes.count, key.utf8Start[index] == bytes[index] { index += 1 }
            guard index == bytes.count else { return nil }
            self = field
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        v = try Self.integer(container, .v).map { Int(clamping: $0) }
        id = try Self.identifier(container)
        op = try container.decodeIfPresent(String.self, forKey: .op)
        kind = try container.decodeIfPresent(String.self, forKey: .kind)
        n = try Self.integer(container, .n)
        ms = try Self.integer(container, .ms)
        url = try container.decodeIfPresent(String.self, forKey: .url)
        pool = try container.decodeIfPresent(String.self, forKey: .pool)
        timeoutMilliseconds = try Self.integer(container, .timeoutMilliseconds)
        retries = try Self.integer(container, .retries)
        size = try Self.integer(container, .size)
        pid = try Self.integer(container, .pid)
        fn = try container.decodeIfPresent(String.self, forKey: .fn)
        args = try container.decodeIfPresent(JSONText.self, forKey: .args)
        argv = try container.decodeIfPresent([String].self, forKey: .argv)
        durable = try Self.boolean(container, .durable)
        detach = try Self.boolean(container, .detach)
        attempts = try Self.integer(container, .attempts)
        job = try Self.integer(container, .job)
        state = try container.decodeIfPresent(String.self, forKey: .state)
        limit = try Self.integer(container, .limit)
    }

    private static func boolean(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Bool? {
        guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
        guard let value = try? container.decode(Bool.self, forKey: key) else {
            throw WireError(.badRequest, "field '\(key.stringValue)' must be true or false")
        }
        return value
    }

    /// Decodes a whole number that fits Int64, with a sentence for each way it can be wrong.
    private static func integer(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int64? {
        guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
        if let integer = try? container.decode(Int64.self, forKey: key) { return integer }
        if let number = try? container.decode(Double.self, forKey: key) {
            if number.rounded() != number {
                throw WireError(.badRequest, "field '\(key.stringValue)' must be a whole number, got \(number)")
            }
            throw WireError(.invalidArgument, "field '\(key.stringValue)' is out of range: \(number) does not fit a 64-bit integer")
        }
        throw WireError(.badRequest, "field '\(key.stringValue)' must be a whole number")
    }

    private static func identifier(_ container: KeyedDecodingContainer<CodingKeys>) throws -> UInt64? {
        guard container.contains(.id), try !container.decodeNil(forKey: .id) else { return nil }
        guard let id = try? container.decode(UInt64.self, forKey: .id) else {
            throw WireError(.badRequest, "field 'id' must be a whole number 0...\(UInt64.max)")
        }
        return id
    }

    func request() throws(WireError) -> Request {
        if let v, v != ProtocolLimits.version {
            throw WireError(.unsupportedVersion, "protocol version \(v) is not supported; this daemon speaks \(ProtocolLimits.version)")
        }
        let operation: Operation
        if let knownOp {
            operation = knownOp
        } else {
            guard let op else {
                throw WireError(.badRequest, "field 'op' is missing (\(Self.operations))")
            }
            guard let named = Operation(op) else {
                throw WireError(.unknownOperation, "unknown op '\(op)'; this daemon knows \(Self.operations)")
            }
            operation = named
        }
        switch operation {
        case .ping: return Request(id: id, operation: .ping)
        case .status: return Request(id: id, operation: .status)
        case .metrics: return Request(id: id, operation: .metrics)
        case .submit: return Request(id: id, operation: .submit(try submission()))
        case .resize: return Request(id: id, operation: try resize())
        case .reload: return Request(id: id, operation: .reload)
        case .shutdown: return Request(id: id, operation: .shutdown)
        case .job: return Request(id: id, operation: .job(id: try jobID(operation)))
        case .wait: return Request(id: id, operation: .waitJob(id: try jobID(operation)))
        case .cancel: return Request(id: id, operation: .cancelJob(id: try jobID(operation)))
        case .jobs:
            var wanted: JobState?
            if let state {
                guard let known = JobState(rawValue: state) else {
                    let states = JobState.allCases.map(\.rawValue).joined(separator: ", ")
                    throw WireError(.invalidArgument, "unknown job state '\(state)'; the states: \(states)")
                }
                wanted = known
            }
            let count = limit ?? 100
            guard (1...Int64(ProtocolLimits.maxJobsListed)).contains(count) else {
                throw WireError(.invalidArgument, "limit must be 1...\(ProtocolLimits.maxJobsListed), got \(count)")
            }
            return Request(id: id, operation: .jobs(state: wanted, limit: Int(count)))
        case .killWorker:
            guard let pid else { throw WireError(.badRequest, "kill_worker needs field 'pid'") }
            guard pid > 0, pid <= Int64(Int32.max) else {
                throw WireError(.invalidArgument, "pid must be 1...\(Int32.max), got \(pid)")
            }
            return Request(id: id, operation: .killWorker(pid: Int32(pid)))
        }
    }

    /// The operations a request may name.
    enum Operation: CaseIterable {
        case ping, status, metrics, submit, job, wait, cancel, jobs, resize, reload, shutdown, killWorker

        /// The operation named `text`.
        init?(_ text: String) {
            var text = text
            guard let operation = text.withUTF8({ Operation($0) }) else { return nil }
            self = operation
        }

        /// The operation named by the UTF-8 `bytes`: the only candidate their length and first
        /// bytes allow, then compared byte for byte.
        init?(_ bytes: UnsafeBufferPointer<UInt8>) {
            guard bytes.count >= 3 else { return nil }
            let candidate: Operation
            switch (bytes.count, bytes[0], bytes[2]) {
            case (3, _, _): candidate = .job
            case (4, UInt8(ascii: "p"), _): candidate = .ping
            case (4, UInt8(ascii: "w"), _): candidate = .wait
            case (4, UInt8(ascii: "j"), _): candidate = .jobs
            case (6, UInt8(ascii: "s"), UInt8(ascii: "b")): candidate = .submit
            case (6, UInt8(ascii: "s"), _): candidate = .status
            case (6, UInt8(ascii: "r"), UInt8(ascii: "s")): candidate = .resize
            case (6, UInt8(ascii: "r"), _): candidate = .reload
            case (6, UInt8(ascii: "c"), _): candidate = .cancel
            case (7, _, _): candidate = .metrics
            case (8, _, _): candidate = .shutdown
            case (11, _, _): candidate = .killWorker
            default: return nil
            }
            guard FlatJSON.equal(bytes, candidate.name) else { return nil }
            self = candidate
        }

        /// Its name on the wire.
        var name: StaticString {
            switch self {
            case .ping: return "ping"
            case .status: return "status"
            case .metrics: return "metrics"
            case .submit: return "submit"
            case .resize: return "resize"
            case .reload: return "reload"
            case .shutdown: return "shutdown"
            case .job: return "job"
            case .wait: return "wait"
            case .cancel: return "cancel"
            case .jobs: return "jobs"
            case .killWorker: return "kill_worker"
            }
        }
    }

    private static let operations = Operation.allCases.map { "\($0.name)" }.joined(separator: ", ")

    private func jobID(_ operation: Operation) throws(WireError) -> Int64 {
        guard let job else { throw WireError(.badRequest, "\(operation.name) needs field 'job' (the job's id)") }
        guard job > 0 else { throw WireError(.invalidArgument, "a job's id is a positive integer, got \(job)") }
        return job
    }

    private func resize() throws(WireError) -> Request.Operation {
        let name: PoolName
        if let knownPool {
            name = knownPool
        } else {
            guard let poolName = pool else { throw WireError(.badRequest, "resize needs field 'pool' (process, thread, async or a configured pool's name)") }
            name = try Self.poolName(poolName)
        }
        guard let size else { throw WireError(.badRequest, "resize needs field 'size'") }
        // A built-in pool's range is known here; a configured pool's model, and so its range, only the daemon knows.
        let range = name.builtInModel.map(ConfigurationLimits.size(of:)) ?? 1...ConfigurationLimits.largestSize
        guard size >= Int64(range.lowerBound), size <= Int64(range.upperBound) else {
            throw WireError(.invalidArgument, "the \(name) pool's size must be \(range.lowerBound)...\(range.upperBound), got \(size)")
        }
        return .resize(pool: name, size: Int(size))
    }

    /// A pool name as the request spells it; the daemon says whether it runs a pool of that name.
    private static func poolName(_ text: String) throws(WireError) -> PoolName {
        guard let name = PoolName(rawValue: text) else {
            throw WireError(.unsupportedPool, "'\(text)' is not a pool name; a name is \(PoolName.rule) (the built-in pools: process, thread, async)")
        }
        return name
    }

    private func submission() throws(WireError) -> Submission {
        let kind: WorkloadKind
        if let knownKind {
            kind = knownKind
        } else {
            guard let kindName = self.kind ?? (fn != nil ? WorkloadKind.call.rawValue : nil) else {
                throw WireError(.badRequest, "field 'kind' is missing (cpu, io, async, sleep, noop or exec; or 'fn' for a call)")
            }
            guard let named = WorkloadKind(rawValue: kindName) else {
                let known = WorkloadKind.allCases.map(\.rawValue).joined(separator: ", ")
                throw WireError(.unknownKind, "unknown kind '\(kindName)'; known kinds: \(known)")
            }
            kind = named
        }
        let workload: Workload
        switch kind {
        case .cpu:
            guard let n else { throw WireError(.badRequest, "cpu needs field 'n' (iterations)") }
            workload = .cpu(n: n)
        case .sleep:
            guard let ms else { throw WireError(.badRequest, "sleep needs field 'ms' (milliseconds)") }
            workload = .sleep(milliseconds: ms)
        case .io:
            guard let url else { throw WireError(.badRequest, "io needs field 'url'") }
            workload = .io(url: url)
        case .async:
            guard let url else { throw WireError(.badRequest, "async needs field 'url'") }
            workload = .async(url: url)
        case .noop:
            workload = .noop
        case .call:
            guard let fn else { throw WireError(.badRequest, "a call needs field 'fn' (the function's name)") }
            workload = .call(function: fn, arguments: args ?? .null)
        case .exec:
            guard let argv else { throw WireError(.badRequest, "exec needs field 'argv' (the program, then its arguments)") }
            workload = .exec(argv: argv)
        }
        var poolName = knownPool
        if poolName == nil, let pool {
            poolName = try Self.poolName(pool)
        }
        if let retries, !(0...Int64(ProtocolLimits.maxRetries)).contains(retries) {
            throw WireError(.invalidArgument, "retries must be 0...\(ProtocolLimits.maxRetries), got \(retries)")
        }
        var durability: Durability?
        if durable == true {
            if kind == .exec {
                throw WireError(
                    .unsupportedPool,
                    "exec is checked against the caller's permissions on this host and runs at once; it cannot be stored as a durable job"
                )
            }
            if let attempts, !(1...Int64(ProtocolLimits.maxJobAttempts)).contains(attempts) {
                throw WireError(.invalidArgument, "attempts must be 1...\(ProtocolLimits.maxJobAttempts), got \(attempts)")
            }
            durability = try Durability(detach: detach ?? false, maxAttempts: attempts.map { Int($0) })
        } else if detach == true || attempts != nil {
            throw WireError(.badRequest, "'detach' and 'attempts' apply to durable submissions only (\"durable\": true)")
        }
        return try Submission(
            workload: try Workload.validated(workload),
            pool: poolName,
            timeoutMilliseconds: timeoutMilliseconds,
            retries: Int(retries ?? 0),
            durability: durability
        )
    }
}
