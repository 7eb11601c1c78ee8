import ConcFleet
import ConcProtocol
import Configuration
import Foundation
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
        let fileKeys = Self.keys(inSnapshot: String(reflecting: file.snapshot()))
        do {
            var configuration = try resolve(reader)
            configuration.namedPools = try namedPools(
                reader, keys: fileKeys,
                fileText: try? String(contentsOfFile: filePath, encoding: .utf8)
            )
            configuration.queue = try Self.queue(reader, pools: configuration.pools.map(\.name))
            return configuration
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
            try Self.integer(reader, key, range, zeroMeansDefault: zeroMeansDefault)
        }
        func seconds(_ key: String, _ range: ClosedRange<Double> = ConfigurationLimits.metricsIntervalSeconds) throws(Failure) -> Double? {
            try Self.seconds(reader, key, range)
        }

        let limits = ConfigurationLimits.self
        let processWorkers: Int? =
            try overrides.processWorkers ?? integer("pools.process.workers", limits.size(of: .process), zeroMeansDefault: true)
        let threads: Int? = try overrides.threads ?? integer("pools.thread.threads", limits.size(of: .thread), zeroMeansDefault: true)
        let asyncLimit: Int = try overrides.asyncLimit ?? integer("pools.async.limit", limits.size(of: .async)) ?? 100_000
        let connections: Int = try integer("pools.async.connections_per_host", limits.connectionsPerHost) ?? 1024
        let queueLimit: Int = try overrides.queueLimit ?? integer("queue_limit", limits.queueLimit) ?? 10_000
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
        configuration.threadMaximum = try integer("pools.thread.max_threads", limits.size(of: .thread), zeroMeansDefault: true)
        configuration.threadIdleTimeoutSeconds = try seconds("pools.thread.idle_timeout", limits.idleTimeoutSeconds) ?? 10
        configuration.processMaximum = try integer("pools.process.max_workers", limits.size(of: .process), zeroMeansDefault: true)
        configuration.processIdleTimeoutSeconds = try seconds("pools.process.idle_timeout", limits.idleTimeoutSeconds) ?? 10
        for pool in configuration.pools where PoolName.builtIn.contains(pool.name) { try Self.checkGrowth(pool) }
        configuration.processMemoryLimitMegabytes = try integer("pools.process.memory_limit_mb", limits.maxRSSMegabytes) ?? 0
        configuration.processMemoryLimitMechanism = try Self.mechanism(reader, "pools.process.memory_limit_by")
        configuration.processMaxTasks = try integer("pools.process.max_tasks", limits.maxTasks) ?? 0
        configuration.processMaxTasksJitter = try integer("pools.process.max_tasks_jitter", limits.maxTasks) ?? 0
        configuration.processMaxRSSMegabytes = try integer("pools.process.max_rss_mb", limits.maxRSSMegabytes) ?? 0
        configuration.metricsIntervalSeconds = interval
        configuration.logLevel = logLevel
        configuration.metricsListen = try metricsListen(overrides.metricsListen ?? reader.string(forKey: "metrics.listen"))
        var connectionLimits = ConnectionLimits()
        if let kib = try integer("connections.send_buffer_kib", limits.sendBufferKiB) { connectionLimits.sendBufferBytes = kib * 1024 }
        if let stall = try seconds("connections.stall_timeout", limits.connectionSeconds) { connectionLimits.stallTimeoutSeconds = stall }
        if let rate = try integer("connections.vanishing_per_second", limits.vanishingPerSecond) { connectionLimits.vanishingPerSecond = rate }
        if let most = try integer("connections.rejected_in_a_row", limits.rejectedInARow) { connectionLimits.rejectedInARow = most }
        if let most = try integer("metrics.max_connections", limits.metricsConnections) { connectionLimits.metricsMaxConnections = most }
        if let idle = try seconds("metrics.idle_timeout", limits.connectionSeconds) { connectionLimits.metricsIdleTimeoutSeconds = idle }
        configuration.connectionLimits = connectionLimits
        if let allow = reader.stringArray(forKey: "exec.allow") {
            configuration.exec.allow = try ExecPolicy.resolve(allow: allow)
        } else if let text = reader.string(forKey: "exec.allow") {
            throw Failure(description: "exec.allow must be a list of programs and folders, e.g. [/usr/bin/convert, /srv/bin/], got '\(text)'")
        }
        if let kib = try integer("exec.output_kib", limits.execOutputKiB) { configuration.exec.outputBytes = kib * 1024 }
        return configuration
    }
}

extension ConfigurationLoader {
    /// `key` as a whole number in `range`, nil when absent (or 0 with `zeroMeansDefault`).
    fileprivate static func integer(
        _ reader: ConfigReader, _ key: String, _ range: ClosedRange<Int>, zeroMeansDefault: Bool = false
    ) throws(Failure) -> Int? {
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

    /// `key` as seconds in `range`, nil when absent.
    fileprivate static func seconds(_ reader: ConfigReader, _ key: String, _ range: ClosedRange<Double>) throws(Failure) -> Double? {
        if let value = reader.double(forKey: ConfigKey(key)) {
            guard range.contains(value) else {
                throw Failure(description: "\(key) must be \(ConfigurationLimits.text(range)) seconds, got \(value)")
            }
            return value
        }
        if let text = reader.string(forKey: ConfigKey(key)) {
            throw Failure(description: "\(key) must be a number of seconds, got '\(text)'")
        }
        return nil
    }

    /// `key` as a memory limit's mechanism (`auto`, `cgroup`, `rlimit`); auto when absent.
    fileprivate static func mechanism(_ reader: ConfigReader, _ key: String) throws(Failure) -> MemoryLimit.Mechanism {
        guard let text = reader.string(forKey: ConfigKey(key)) else { return .auto }
        guard let mechanism = MemoryLimit.Mechanism(rawValue: text) else {
            let names = MemoryLimit.Mechanism.allCases.map(\.rawValue).joined(separator: ", ")
            throw Failure(description: "\(key) must be one of \(names), got '\(text)'")
        }
        return mechanism
    }

    /// A pool's maximum may not be below its minimum.
    fileprivate static func checkGrowth(_ pool: PoolConfiguration) throws(Failure) {
        guard let maximum = pool.maximum, maximum < pool.size, let key = PoolConfiguration.maximumKey(of: pool.model) else { return }
        let size = PoolConfiguration.sizeKey(of: pool.model)
        throw Failure(description: "pools.\(pool.name).\(key) (\(maximum)) is below pools.\(pool.name).\(size) (\(pool.size)); the pool grows from \(size) to \(key)")
    }

    /// The pools the file names beside the built-in ones, each from its `pools.NAME.*` keys, in the
    /// file's order. `keys` are the file's keys; `fileText` only orders the sections.
    fileprivate func namedPools(_ reader: ConfigReader, keys fileKeys: [String], fileText: String?) throws(Failure) -> [PoolConfiguration] {
        var sections: [String: Set<String>] = [:]
        for key in fileKeys where key.hasPrefix("pools.") {
            let parts = key.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            // A map's members come as their own keys (pools.NAME.environment.VAR): the setting is the first part.
            sections[String(parts[1]), default: []].insert(String(parts[2].prefix { $0 != "." }))
        }
        for builtIn in PoolName.builtIn {
            if let given = reader.string(forKey: ConfigKey("pools.\(builtIn).model")), given != builtIn.rawValue {
                throw Failure(description: "pools.\(builtIn).model: the built-in \(builtIn) pool's model is \(builtIn) and cannot change")
            }
        }
        var pools: [PoolConfiguration] = []
        for section in Self.ordered(sections.keys.filter { PoolModel(rawValue: $0) == nil }, in: fileText) {
            guard let name = PoolName(rawValue: section) else {
                throw Failure(description: "pools.\(section): '\(section)' is not a pool name; a name is \(PoolName.rule)")
            }
            let models = PoolModel.allCases.map(\.rawValue).joined(separator: ", ")
            guard let modelText = reader.string(forKey: ConfigKey("pools.\(name).model")) else {
                throw Failure(description: "pools.\(name) needs a model (\(models)), e.g. pools.\(name).model: process")
            }
            guard let model = PoolModel(rawValue: modelText) else {
                throw Failure(description: "pools.\(name).model must be one of \(models), got '\(modelText)'")
            }
            let keys = PoolConfiguration.keys(of: model)
            if let unknown = sections[section, default: []].subtracting(keys.all + ["model"]).sorted().first {
                let allowed = (["model"] + keys.all.sorted()).joined(separator: ", ")
                throw Failure(description: "pools.\(name).\(unknown) is not a setting of a \(model) pool (\(allowed))")
            }
            let prefix = "pools.\(name)."
            let sizeRange = ConfigurationLimits.size(of: model)
            let size = try Self.integer(reader, prefix + keys.size, sizeRange, zeroMeansDefault: model != .async)
            var pool = PoolConfiguration(name: name, model: model, size: size ?? PoolConfiguration.defaultSize(of: model))
            switch model {
            case .process:
                pool.maximum = try Self.integer(reader, prefix + "max_workers", sizeRange, zeroMeansDefault: true)
                pool.idleTimeoutSeconds = try Self.seconds(reader, prefix + "idle_timeout", ConfigurationLimits.idleTimeoutSeconds) ?? 10
                try Self.checkGrowth(pool)
                pool.memoryLimitMegabytes = try Self.integer(reader, prefix + "memory_limit_mb", ConfigurationLimits.maxRSSMegabytes) ?? 0
                pool.memoryLimitMechanism = try Self.mechanism(reader, prefix + "memory_limit_by")
                pool.maxTasks = try Self.integer(reader, prefix + "max_tasks", ConfigurationLimits.maxTasks) ?? 0
                pool.maxTasksJitter = try Self.integer(reader, prefix + "max_tasks_jitter", ConfigurationLimits.maxTasks) ?? 0
                pool.maxRSSMegabytes = try Self.integer(reader, prefix + "max_rss_mb", ConfigurationLimits.maxRSSMegabytes) ?? 0
                try userCommand(of: &pool, reader, prefix: prefix, keys: fileKeys)
            case .thread:
                pool.maximum = try Self.integer(reader, prefix + "max_threads", sizeRange, zeroMeansDefault: true)
                pool.idleTimeoutSeconds = try Self.seconds(reader, prefix + "idle_timeout", ConfigurationLimits.idleTimeoutSeconds) ?? 10
                try Self.checkGrowth(pool)
            case .async:
                pool.connectionsPerHost =
                    try Self.integer(reader, prefix + "connections_per_host", ConfigurationLimits.connectionsPerHost) ?? 1024
            }
            pools.append(pool)
        }
        return pools
    }

    /// `command`, `working_directory`, `environment` and `start_timeout` of a process pool.
    fileprivate func userCommand(of pool: inout PoolConfiguration, _ reader: ConfigReader, prefix: String, keys: [String]) throws(Failure) {
        if let command = reader.stringArray(forKey: ConfigKey(prefix + "command")) {
            guard let executable = command.first, !executable.isEmpty else {
                throw Failure(description: "\(prefix)command must name a program, e.g. [\"/usr/bin/python3\", \"/srv/app/worker.py\"]")
            }
            pool.command = command
        } else if let text = reader.string(forKey: ConfigKey(prefix + "command")) {
            throw Failure(description: "\(prefix)command must be a list (the program, then its arguments; no shell), got '\(text)'")
        }
        pool.workingDirectory = reader.string(forKey: ConfigKey(prefix + "working_directory"))
        for key in keys where key.hasPrefix(prefix + "environment.") {
            let variable = String(key.dropFirst((prefix + "environment.").count))
            guard let value = reader.string(forKey: ConfigKey(key)) else { continue }
            pool.environment[variable] = value
        }
        if let seconds = reader.double(forKey: ConfigKey(prefix + "start_timeout")) {
            guard ConfigurationLimits.startTimeoutSeconds.contains(seconds) else {
                let range = ConfigurationLimits.startTimeoutSeconds
                throw Failure(description: "\(prefix)start_timeout must be \(range.lowerBound)...\(range.upperBound) seconds, got \(seconds)")
            }
            pool.startTimeoutSeconds = seconds
        } else if pool.command.isEmpty == false {
            // A program's own start-up (imports, a model to load) takes longer than concd's worker's.
            pool.startTimeoutSeconds = 60
        }
        if pool.command.isEmpty, pool.workingDirectory != nil || !pool.environment.isEmpty {
            throw Failure(description: "\(prefix)working_directory and environment apply to a command; \(prefix)command is missing")
        }
    }

    /// The keys of a file snapshot, read from its debug description
    /// (`YAMLSnapshot[3 values: a.b=1, c=x, d=<REDACTED>]`, sorted by key): swift-configuration has
    /// no call that lists keys, and named pools are found by their keys. A value holding ", k=" can
    /// add a key that is not in the file; every key found is looked up again before it is used.
    package static func keys(inSnapshot description: String) -> [String] {
        guard let start = description.range(of: " values: ") else { return [] }
        let body = description[start.upperBound...].dropLast()
        return body.components(separatedBy: ", ").compactMap { entry in
            guard let equals = entry.firstIndex(of: "=") else { return nil }
            let key = entry[..<equals]
            guard !key.isEmpty, !key.contains(where: { $0 == " " || $0 == "," }) else { return nil }
            return String(key)
        }
    }

    /// `names` in the order their sections first appear in `text` as YAML keys (`name:` at the start
    /// of a line or after `{` or `,`, outside comments); names not found keep alphabetical order at the end.
    package static func ordered(_ names: [String], in text: String?) -> [String] {
        let sorted = names.sorted()
        guard let text else { return sorted }
        var position: [String: Int] = [:]
        var offset = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            var tokenStart = code.startIndex
            var expectingKey = true
            for index in code.indices {
                let character = code[index]
                if character == "{" || character == "," {
                    expectingKey = true
                    tokenStart = code.index(after: index)
                } else if character == ":" {
                    let token = code[tokenStart..<index].trimmingCharacters(in: CharacterSet(charactersIn: " \t\"'"))
                    if expectingKey, position[token] == nil, sorted.contains(token) {
                        position[token] = offset + code.distance(from: code.startIndex, to: index)
                    }
                    expectingKey = false
                }
            }
            offset += line.count + 1
        }
        return sorted.enumerated().sorted { a, b in
            (position[a.element] ?? Int.max, a.offset) < (position[b.element] ?? Int.max, b.offset)
        }.map(\.element)
    }
}

extension ConfigurationLoader {
    /// The `queue:` section (fleet mode), nil without `queue.url`.
    fileprivate static func queue(_ reader: ConfigReader, pools: [PoolName]) throws(Failure) -> FleetSettings? {
        guard let text = reader.string(forKey: "queue.url"), !text.isEmpty else {
            for key in ["queue.pools", "queue.host_name"] where reader.string(forKey: ConfigKey(key)) != nil || reader.stringArray(forKey: ConfigKey(key)) != nil {
                throw Failure(description: "\(key) is set but queue.url is not: the fleet needs its database's URL (postgres://USER@HOST/DB)")
            }
            return nil
        }
        let url: DatabaseURL
        do {
            url = try DatabaseURL(text)
        } catch {
            throw Failure(description: "queue.url: \(error.message)")
        }
        let limits = FleetSettings.Limits.self
        let hostName = reader.string(forKey: "queue.host_name") ?? Self.machineName
        guard limits.hostNameBytes.contains(hostName.utf8.count),
            hostName.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 })
        else {
            throw Failure(description: "queue.host_name must be 1...64 printable characters without spaces, got '\(hostName)'")
        }
        var names = pools
        if let listed = reader.stringArray(forKey: "queue.pools") {
            names = []
            for name in listed {
                guard let pool = PoolName(rawValue: name), pools.contains(pool) else {
                    throw Failure(
                        description: "queue.pools names '\(name)', which is not a pool of this daemon (its pools: \(pools.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                if !names.contains(pool) { names.append(pool) }
            }
        } else if let text = reader.string(forKey: "queue.pools") {
            throw Failure(description: "queue.pools must be a list of pool names, e.g. [process, thumbnails], got '\(text)'")
        }
        var settings = FleetSettings(url: url, hostName: hostName, pools: names)
        if let lease = try seconds(reader, "queue.lease", limits.leaseSeconds) { settings.leaseSeconds = lease }
        if let attempts = try integer(reader, "queue.max_attempts", limits.maxAttempts) { settings.maxAttempts = attempts }
        if let backoff = try seconds(reader, "queue.backoff", limits.backoffSeconds) { settings.backoffSeconds = backoff }
        if let most = try seconds(reader, "queue.max_backoff", limits.backoffSeconds) { settings.maxBackoffSeconds = most }
        guard settings.maxBackoffSeconds >= settings.backoffSeconds else {
            throw Failure(description: "queue.max_backoff (\(settings.maxBackoffSeconds) s) must not be below queue.backoff (\(settings.backoffSeconds) s)")
        }
        if let retention = try seconds(reader, "queue.retention", limits.retentionSeconds) { settings.retentionSeconds = retention }
        if let poll = try seconds(reader, "queue.poll", limits.pollSeconds) { settings.pollSeconds = poll }
        if let prefetch = try integer(reader, "queue.prefetch", limits.prefetch) { settings.prefetch = prefetch }
        if let batch = try integer(reader, "queue.claim_batch", limits.claimBatch) { settings.claimBatch = batch }
        return settings
    }

    /// The machine's host name, the fleet's default name for this host.
    static var machineName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}
