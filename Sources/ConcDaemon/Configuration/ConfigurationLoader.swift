import Configuration
import Glibc
import Logging
import SystemPackage

/// Reads the daemon's configuration: command-line flags over `CONCD_*` environment variables over
/// the YAML file (default /etc/concd/concd.yaml) over built-in defaults. It runs at start and again
/// on every SIGHUP; a file that fails to parse or holds a bad value is an error, and the caller keeps
/// the configuration it has.
public struct ConfigurationLoader: Sendable {
    /// The file read when `--config` is not given.
    public static let defaultFilePath = "/etc/concd/concd.yaml"

    /// The YAML file.
    public var filePath: String
    /// Whether a missing file is an error (it is when the user named it).
    public var fileRequired: Bool
    /// Values given as flags; they win over everything else.
    public var overrides: Overrides

    /// Flag values; `nil` means "not given".
    public struct Overrides: Sendable, Equatable {
        public var socketPath: String?
        public var processWorkers: Int?
        public var threads: Int?
        public var asyncLimit: Int?
        public var queueLimit: Int?
        public var metricsIntervalSeconds: Double?
        public var logLevel: Logger.Level?
        /// `HOST:PORT` for the metrics listener; `off` (or empty) turns it off whatever the file says.
        public var metricsListen: String?

        /// No overrides.
        public init(
            socketPath: String? = nil, processWorkers: Int? = nil, threads: Int? = nil, asyncLimit: Int? = nil,
            queueLimit: Int? = nil, metricsIntervalSeconds: Double? = nil, logLevel: Logger.Level? = nil
        ) {
            self.socketPath = socketPath
            self.processWorkers = processWorkers
            self.threads = threads
            self.asyncLimit = asyncLimit
            self.queueLimit = queueLimit
            self.metricsIntervalSeconds = metricsIntervalSeconds
            self.logLevel = logLevel
        }
    }

    /// Creates a loader.
    public init(filePath: String? = nil, overrides: Overrides = Overrides()) {
        self.filePath = filePath ?? Self.defaultFilePath
        self.fileRequired = filePath != nil
        self.overrides = overrides
    }

    /// A configuration that could not be used: a stable code, the `errno` behind it when a file
    /// could not be read, and a sentence saying why. `concd` exits 78 (EX_CONFIG) on any of them.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// A stable code for why; decide on it, never on the sentence.
        public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
            public var rawValue: String
            public init(rawValue: String) { self.rawValue = rawValue }
            public var description: String { rawValue }

            /// The file could not be opened or read (`underlyingError` says why).
            public static let unreadableFile = Code(rawValue: "unreadable_file")
            /// The file was read but is not YAML the loader understands.
            public static let invalidFile = Code(rawValue: "invalid_file")
            /// A key holds a value of the wrong type or out of its range.
            public static let invalidValue = Code(rawValue: "invalid_value")
        }

        /// Why.
        public var code: Code
        /// The system's reason, for `unreadableFile`.
        public var underlyingError: Errno?
        /// A sentence saying which file or key is wrong and how.
        public var description: String

        /// A failure with its code, reason and sentence.
        public init(code: Code, underlyingError: Errno? = nil, description: String) {
            self.code = code
            self.underlyingError = underlyingError
            self.description = description
        }

        /// A key with a value the daemon refuses (code `invalid_value`).
        public init(description: String) {
            self.init(code: .invalidValue, description: description)
        }

        /// The file at `path` failed to load with `error`: `unreadableFile` with the errno when
        /// the file cannot be read at all, else `invalidFile`.
        static func file(_ path: String, _ error: any Error) -> Failure {
            if access(path, R_OK) != 0 {
                return Failure(code: .unreadableFile, underlyingError: Errno(rawValue: errno), description: "cannot read \(path): \(error)")
            }
            return Failure(code: .invalidFile, description: "cannot read \(path): \(error)")
        }
    }

    /// Reads and validates the configuration.
    public func load() async throws(Failure) -> DaemonConfiguration {
        let file: FileProvider<YAMLSnapshot>
        do {
            file = try await FileProvider<YAMLSnapshot>(filePath: FilePath(filePath), allowMissing: !fileRequired)
        } catch {
            throw Failure.file(filePath, error)
        }
        let reader = ConfigReader(providers: [
            EnvironmentVariablesProvider().prefixKeys(with: "concd"),
            file,
        ])
        do {
            return try resolve(reader)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(code: .invalidFile, description: "\(filePath): \(error)")
        }
    }

    /// `metrics.listen`: absent, empty or `off` means no listener.
    private func metricsListen(_ text: String?) throws(Failure) -> ListenAddress? {
        guard let text, !text.isEmpty, text != "off" else { return nil }
        switch ListenAddress.parse(text) {
        case .success(let address): return address
        case .failure(let error): throw Failure(description: "metrics.listen: \(error.description)")
        }
    }

    private func resolve(_ reader: ConfigReader) throws -> DaemonConfiguration {
        func integer(_ key: String, _ range: ClosedRange<Int>, zeroMeansDefault: Bool = false) throws(Failure) -> Int? {
            guard let value = reader.int(forKey: ConfigKey(key)) else {
                if let text = reader.string(forKey: ConfigKey(key)) {
                    throw Failure(description: "\(key) must be a whole number, got '\(text)'")
                }
                return nil
            }
            if zeroMeansDefault && value == 0 { return nil }
            guard range.contains(value) else {
                throw Failure(description: "\(key) must be \(range.lowerBound)...\(range.upperBound), got \(value)")
            }
            return value
        }
        func seconds(_ key: String) throws(Failure) -> Double? {
            if let value = reader.double(forKey: ConfigKey(key)) {
                guard value >= 0.1 && value <= 86_400 else {
                    throw Failure(description: "\(key) must be 0.1...86400 seconds, got \(value)")
                }
                return value
            }
            if let text = reader.string(forKey: ConfigKey(key)) {
                throw Failure(description: "\(key) must be a number of seconds, got '\(text)'")
            }
            return nil
        }

        let processWorkers: Int? = try overrides.processWorkers ?? integer("pools.process.workers", 1...1024, zeroMeansDefault: true)
        let threads: Int? = try overrides.threads ?? integer("pools.thread.threads", 1...4096, zeroMeansDefault: true)
        let asyncLimit: Int = try overrides.asyncLimit ?? integer("pools.async.limit", 1...10_000_000) ?? 100_000
        let connections: Int = try integer("pools.async.connections_per_host", 1...65_536) ?? 1024
        let queueLimit: Int = try overrides.queueLimit ?? integer("queue_limit", 1...10_000_000) ?? 10_000
        let interval: Double = try overrides.metricsIntervalSeconds ?? seconds("metrics.interval") ?? 10
        var logLevel = overrides.logLevel ?? .info
        if overrides.logLevel == nil, let text = reader.string(forKey: "log.level") {
            guard let level = Logger.Level(rawValue: text) else {
                throw Failure(description: "log.level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
            }
            logLevel = level
        }
        var configuration = DaemonConfiguration(
            socketPath: overrides.socketPath ?? reader.string(forKey: "socket") ?? "/run/concd/concd.sock",
            processWorkers: processWorkers,
            threads: threads,
            asyncLimit: asyncLimit,
            queueLimit: queueLimit,
            asyncConnectionsPerHost: connections
        )
        configuration.processMaxTasks = try integer("pools.process.max_tasks", 0...1_000_000_000) ?? 0
        configuration.processMaxTasksJitter = try integer("pools.process.max_tasks_jitter", 0...1_000_000_000) ?? 0
        configuration.processMaxRSSMegabytes = try integer("pools.process.max_rss_mb", 0...1_048_576) ?? 0
        configuration.metricsIntervalSeconds = interval
        configuration.logLevel = logLevel
        configuration.metricsListen = try metricsListen(overrides.metricsListen ?? reader.string(forKey: "metrics.listen"))
        return configuration
    }
}
