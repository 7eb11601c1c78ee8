import Logging

/// A swift-log handler that writes each message to the journal with structured fields: MESSAGE for
/// people, PRIORITY, CODE_* and one `CONCD_*` field per metadata key for `journalctl` filters.
public struct JournalLogHandler: LogHandler {
    /// Messages below this level are dropped.
    public var logLevel: Logger.Level
    /// Metadata attached to every message from this logger.
    public var metadata: Logger.Metadata = [:]
    private let label: String

    /// Creates a handler for `label`.
    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(name: String, value: String)] = [
            ("MESSAGE", event.message.description),
            ("PRIORITY", String(Self.priority(event.level))),
            ("SYSLOG_IDENTIFIER", "concd"),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
            ("CONCD_LOGGER", label),
        ]
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for (key, value) in merged {
            fields.append((Journal.fieldName(key), "\(value)"))
        }
        Journal.send(fields)
    }

    /// syslog priorities, as the journal's PRIORITY field wants them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }
}
