/// The kinds of work concd runs.
public enum WorkloadKind: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// `count += i` for i in 0..<n.
    case cpu
    /// One blocking HTTP GET (libcurl).
    case io
    /// One HTTP GET on the async executor (AsyncHTTPClient).
    case async
    /// Waits a number of milliseconds.
    case sleep
    /// Does nothing; measures the dispatch path.
    case noop
    /// Calls a function of the user's own worker program, on a pool that runs one.
    case call
    /// Runs a command (a program and its arguments, no shell) on a parked thread and waits for it.
    case exec

    /// The kind named `rawValue`. Written out because the synthesized one costs about 500
    /// instructions (a table search) on every submission.
    public init?(rawValue: String) {
        var text = rawValue
        guard let kind = text.withUTF8({ WorkloadKind(utf8: $0) }) else { return nil }
        self = kind
    }

    /// The kind named by the UTF-8 `bytes` (as the fast request reader has them): the only
    /// candidate their length and first byte allow, then compared byte for byte.
    init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        guard let first = bytes.first else { return nil }
        let (name, kind): (StaticString, WorkloadKind)
        switch (bytes.count, first) {
        case (2, _): (name, kind) = ("io", .io)
        case (3, _): (name, kind) = ("cpu", .cpu)
        case (4, UInt8(ascii: "n")): (name, kind) = ("noop", .noop)
        case (4, UInt8(ascii: "c")): (name, kind) = ("call", .call)
        case (4, UInt8(ascii: "e")): (name, kind) = ("exec", .exec)
        case (5, UInt8(ascii: "a")): (name, kind) = ("async", .async)
        case (5, UInt8(ascii: "s")): (name, kind) = ("sleep", .sleep)
        default: return nil
        }
        guard FlatJSON.equal(bytes, name) else { return nil }
        self = kind
    }

    /// The built-in pool a workload of this kind runs on when the request names none; nil for a
    /// `call`, which needs the name of a pool that runs a program.
    public var naturalPool: PoolName? {
        switch self {
        case .cpu: return .process
        case .io, .sleep, .noop, .exec: return .thread
        case .async: return .async
        case .call: return nil
        }
    }

    /// The models whose pools can run this kind. A blocking GET would stall the async executor, and
    /// the async GET needs the async executor, so those two are kept to their own models.
    public var supportedModels: [PoolModel] {
        switch self {
        case .cpu, .sleep, .noop: return [.process, .thread, .async]
        case .io: return [.thread, .process]
        case .async: return [.async]
        case .call: return [.process]
        case .exec: return [.thread]
        }
    }

    /// The built-in kinds: what a pool running concd's own worker can run (every kind but `call`
    /// and `exec`, which run the user's programs).
    public static let builtIn: [WorkloadKind] = [.cpu, .io, .async, .sleep, .noop]

    /// The built-in pools that can run this kind.
    public var supportedPools: [PoolName] {
        self == .call ? [] : supportedModels.map(PoolName.builtIn)
    }

    /// Whether pools of `model` can run this kind (``supportedModels`` without building the array:
    /// every submission asks).
    public func runs(on model: PoolModel) -> Bool {
        switch (self, model) {
        case (.cpu, _), (.sleep, _), (.noop, _), (.io, .thread), (.io, .process), (.async, .async), (.call, .process),
            (.exec, .thread):
            return true
        case (.io, .async), (.async, .process), (.async, .thread), (.call, .thread), (.call, .async), (.exec, .process),
            (.exec, .async):
            return false
        }
    }

    /// Why a pool of `model` named `pool` cannot run this kind, or nil when it can.
    public func refusal(onPool pool: PoolName, model: PoolModel) -> WireError? {
        guard !runs(on: model) else { return nil }
        let allowed = supportedModels.map(\.rawValue).joined(separator: ", ")
        let which = pool.rawValue == model.rawValue ? "the \(pool) pool" : "the \(pool) pool (a \(model) pool)"
        return WireError(.unsupportedPool, "\(self) cannot run on \(which); it runs on: \(allowed)")
    }

    public var description: String { rawValue }
}

/// One unit of work, validated.
public enum Workload: Sendable, Equatable, CustomStringConvertible {
    /// Sum of 0..<n, computed one addition at a time.
    case cpu(n: Int64)
    /// A blocking GET of the URL.
    case io(url: String)
    /// An async GET of the URL.
    case async(url: String)
    /// A wait of this many milliseconds.
    case sleep(milliseconds: Int64)
    /// Nothing.
    case noop
    /// Function `function` of the pool's worker program, with `arguments` (any JSON value).
    case call(function: String, arguments: JSONText)
    /// A program and its arguments (`argv[0]` is the program: a path, or a name looked up in the
    /// daemon's PATH), run without a shell.
    case exec(argv: [String])

    /// The kind of this workload.
    public var kind: WorkloadKind {
        switch self {
        case .cpu: return .cpu
        case .io: return .io
        case .async: return .async
        case .sleep: return .sleep
        case .noop: return .noop
        case .call: return .call
        case .exec: return .exec
        }
    }

    public var description: String {
        switch self {
        case .cpu(let n): return "cpu \(n)"
        case .io(let url): return "io \(url)"
        case .async(let url): return "async \(url)"
        case .sleep(let ms): return "sleep \(ms)"
        case .noop: return "noop"
        case .call(let function, _): return "call \(function)"
        case .exec(let argv): return "exec \(argv.first ?? "")"
        }
    }

    /// Builds a workload from a kind and its textual argument, as a person types it
    /// (`cpu 10000000`, `io http://127.0.0.1:8080/`, `sleep 100`).
    public static func parse(kind: WorkloadKind, argument: String?) throws(WireError) -> Workload {
        switch kind {
        case .cpu:
            guard let argument, let n = Int64(argument) else {
                throw WireError(.invalidArgument, "cpu needs a whole number of iterations, got '\(argument ?? "")'")
            }
            return try validated(.cpu(n: n))
        case .sleep:
            guard let argument, let ms = Int64(argument) else {
                throw WireError(.invalidArgument, "sleep needs a whole number of milliseconds, got '\(argument ?? "")'")
            }
            return try validated(.sleep(milliseconds: ms))
        case .io, .async:
            guard let argument else {
                throw WireError(.invalidArgument, "\(kind) needs a URL such as http://127.0.0.1:8080/")
            }
            return try validated(kind == .io ? .io(url: argument) : .async(url: argument))
        case .noop:
            return .noop
        case .call:
            throw WireError(.invalidArgument, "call needs a function name and its arguments, not one argument")
        case .exec:
            guard let argument, !argument.isEmpty else {
                throw WireError(.invalidArgument, "exec needs a command, e.g. concctl submit exec -- convert a.png b.jpg")
            }
            return try validated(.exec(argv: [argument]))
        }
    }

    /// Checks ranges and URL shape; returns the workload unchanged when it is valid.
    public static func validated(_ workload: Workload) throws(WireError) -> Workload {
        switch workload {
        case .cpu(let n):
            guard n >= 0 else { throw WireError(.invalidArgument, "cpu needs n >= 0, got \(n)") }
            guard n <= ProtocolLimits.maxCPUIterations else {
                throw WireError(
                    .overflow,
                    "the sum of 0..<\(n) does not fit a signed 64-bit integer; the largest n is \(ProtocolLimits.maxCPUIterations)"
                )
            }
        case .sleep(let ms):
            guard ms >= 0, ms <= ProtocolLimits.maxSleepMilliseconds else {
                throw WireError(
                    .invalidArgument,
                    "sleep needs 0...\(ProtocolLimits.maxSleepMilliseconds) milliseconds, got \(ms)"
                )
            }
        case .io(let url), .async(let url):
            try HTTPURL.validate(url)
        case .noop:
            break
        case .call(let function, _):
            // Over the bytes in place: the UTF-8 view's generic iteration cost about 180 instructions a call.
            var name = function
            guard !function.isEmpty, function.utf8.count <= ProtocolLimits.maxFunctionNameBytes,
                name.withUTF8({ $0.allSatisfy { $0 > 0x20 && $0 != 0x7F } })
            else {
                throw WireError(
                    .invalidArgument,
                    "a function name is 1...\(ProtocolLimits.maxFunctionNameBytes) bytes without spaces or control characters, got '\(function)'"
                )
            }
        case .exec(let argv):
            guard let program = argv.first, !program.isEmpty else {
                throw WireError(.invalidArgument, "exec needs 'argv': the program, then its arguments, e.g. [\"convert\", \"a.png\", \"b.jpg\"]")
            }
            guard argv.count <= ProtocolLimits.maxExecArguments else {
                throw WireError(.invalidArgument, "exec takes at most \(ProtocolLimits.maxExecArguments) arguments, got \(argv.count)")
            }
            // The kernel reads each argument up to its first NUL: one inside would silently cut it.
            if argv.contains(where: { $0.utf8.contains(0) }) {
                throw WireError(.invalidArgument, "an exec argument cannot hold a NUL byte")
            }
        }
        return workload
    }
}
