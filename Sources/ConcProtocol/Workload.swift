/// The kinds of pool concd keeps warm.
public enum PoolKind: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Pre-spawned worker processes: CPU-bound work and crash isolation.
    case process
    /// Parked OS threads: blocking I/O.
    case thread
    /// An async executor on event loops: very many concurrent I/O waits.
    case async

    public var description: String { rawValue }
}

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

    /// The pool a workload of this kind runs on when the request names none.
    public var naturalPool: PoolKind {
        switch self {
        case .cpu: return .process
        case .io, .sleep, .noop: return .thread
        case .async: return .async
        }
    }

    /// The pools that can run this kind. A blocking GET would stall the async executor, and the
    /// async GET needs the async executor, so those two are kept to their own models.
    public var supportedPools: [PoolKind] {
        switch self {
        case .cpu, .sleep, .noop: return [.process, .thread, .async]
        case .io: return [.thread, .process]
        case .async: return [.async]
        }
    }

    /// Whether a pool of `kind` can run this kind: ``supportedPools`` without building the array,
    /// for the check every submission makes.
    public func canRun(on kind: PoolKind) -> Bool {
        switch self {
        case .cpu, .sleep, .noop: return true
        case .io: return kind != .async
        case .async: return kind == .async
        }
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

    /// The kind of this workload.
    public var kind: WorkloadKind {
        switch self {
        case .cpu: return .cpu
        case .io: return .io
        case .async: return .async
        case .sleep: return .sleep
        case .noop: return .noop
        }
    }

    public var description: String {
        switch self {
        case .cpu(let n): return "cpu \(n)"
        case .io(let url): return "io \(url)"
        case .async(let url): return "async \(url)"
        case .sleep(let ms): return "sleep \(ms)"
        case .noop: return "noop"
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
        }
        return workload
    }
}
