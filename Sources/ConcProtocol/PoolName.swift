/// The kinds of pool implementation concd has. Every pool, built in or named in the configuration,
/// is an instance of one of them.
public enum PoolModel: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Pre-spawned worker processes: CPU-bound work and crash isolation.
    case process
    /// Parked OS threads: blocking I/O.
    case thread
    /// An async executor on event loops: very many concurrent I/O waits.
    case async

    /// The model named `rawValue`. Written out because the synthesized one costs about 400
    /// instructions (a table search), and every submission asks it of its pool's name.
    public init?(rawValue: String) {
        var text = rawValue
        guard let model = text.withUTF8({ PoolModel(utf8: $0) }) else { return nil }
        self = model
    }

    /// The model named by the UTF-8 `bytes`: by length, then compared byte for byte.
    init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        switch bytes.count {
        case 7 where FlatJSON.equal(bytes, "process"): self = .process
        case 6 where FlatJSON.equal(bytes, "thread"): self = .thread
        case 5 where FlatJSON.equal(bytes, "async"): self = .async
        default: return nil
        }
    }

    public var description: String { rawValue }
}

/// A pool's name, as requests, replies and `status` carry it (`"pool":"process"`). The three
/// built-in pools are named after their models; the configuration may add more (docs/operations.md).
public struct PoolName: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    /// The name.
    public let rawValue: String
    /// The model of a built-in pool; nil for a pool named in the configuration, whose model only
    /// the daemon knows. Found when the name is made: each submission asks it.
    public let builtInModel: PoolModel?

    /// The longest name, in characters.
    public static let maxLength = 32

    /// A name of 1...32 characters, a lower-case letter then lower-case letters, digits, `-` and
    /// `_`; nil for anything else.
    public init?(rawValue: String) {
        // Over the UTF-8 bytes in place: no array is made for a name every submission may carry,
        // and a pointer loop costs a third of iterating the UTF-8 view.
        var text = rawValue
        var model: PoolModel?
        let valid = text.withUTF8 { bytes in
            guard let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
                bytes.count <= Self.maxLength
            else { return false }
            for byte in bytes where !Self.allowed(byte) { return false }
            model = PoolModel(utf8: bytes)
            return true
        }
        guard valid else { return nil }
        self.rawValue = text
        self.builtInModel = model
    }

    private init(builtIn model: PoolModel) {
        rawValue = model.rawValue
        builtInModel = model
    }

    private static func allowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    /// What a valid name looks like, for error sentences.
    public static let rule = "a lower-case letter, then up to 31 lower-case letters, digits, '-' or '_'"

    /// The built-in process pool.
    public static let process = PoolName(builtIn: .process)
    /// The built-in thread pool.
    public static let thread = PoolName(builtIn: .thread)
    /// The built-in async pool.
    public static let async = PoolName(builtIn: .async)
    /// The built-in pools, in the order every report lists them.
    public static let builtIn: [PoolName] = [.process, .thread, .async]

    /// The built-in pool of `model`.
    public static func builtIn(_ model: PoolModel) -> PoolName {
        switch model {
        case .process: return .process
        case .thread: return .thread
        case .async: return .async
        }
    }

    public var description: String { rawValue }

    /// Lengths first: most comparisons are of different names (the registry's scan for a pool), and
    /// those then need no string comparison.
    public static func == (lhs: PoolName, rhs: PoolName) -> Bool {
        lhs.rawValue.utf8.count == rhs.rawValue.utf8.count && lhs.rawValue == rhs.rawValue
    }

    /// The name alone, as `==` compares it (the model follows from it).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(rawValue)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let name = PoolName(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a pool name (\(Self.rule))"
            ))
        }
        self = name
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
