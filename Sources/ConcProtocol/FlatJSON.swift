/// A reader for the frames nearly every request and reply are: one JSON object of known keys whose
/// values are plain ASCII strings without escapes, integers, booleans, null, or (one level down) such
/// objects. It reads those in one pass without Foundation. It answers `nil` for anything else (escapes,
/// fractions, exponents, non-ASCII, duplicate keys, deeper nesting, malformed JSON), and the caller
/// then uses Foundation's decoder, which owns every error sentence; so the fast path can only ever
/// agree with it.
struct FlatJSON {
    enum Value: Sendable {
        case string(String)
        case unsigned(UInt64)
        case negative(Int64)
        case bool(Bool)
        case null
        case object([(key: String, value: Value)])

        /// The value as an Int64, if it is an integer in range.
        var int64: Int64? {
            switch self {
            case .unsigned(let value): return value <= UInt64(Int64.max) ? Int64(value) : nil
            case .negative(let value): return value
            default: return nil
            }
        }
    }

    /// Parses `bytes` as one object with at most `maxDepth` levels; nil when it is not that simple.
    static func object(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 2) -> [(key: String, value: Value)]? {
        var reader = FlatJSON(bytes: bytes)
        reader.skipSpace()
        guard let members = reader.object(depth: maxDepth) else { return nil }
        reader.skipSpace()
        return reader.position == bytes.count ? members : nil
    }

    /// A member's value as ``scalarMembers(_:_:)`` hands it over: a string as its bytes in the frame.
    enum Scalar {
        case string(UnsafeBufferPointer<UInt8>)
        case unsigned(UInt64)
        case negative(Int64)
        case bool(Bool)
        case null
        /// The text of the one member whose key is the `rawKey`: any JSON value, checked, not read.
        case raw(UnsafeBufferPointer<UInt8>)

        /// The value as an Int64, if it is an integer in range.
        var int64: Int64? {
            switch self {
            case .unsigned(let value): return value <= UInt64(Int64.max) ? Int64(value) : nil
            case .negative(let value): return value
            default: return nil
            }
        }
    }

    /// Reads `bytes` as one object whose values are all strings, integers, booleans or null (the
    /// same rules as ``object(_:maxDepth:)`` at depth 1), calling `body` with each member's key bytes
    /// and value in order, and building no string or array: the request decoder's hot path. Returns
    /// false when the object is not that simple or `body` returns false. `body` bounds the number of
    /// members (and rejects repeated keys) itself.
    ///
    /// The member whose key is `rawKey` may hold any JSON value (a call's `args`, a worker's
    /// `result`): it is checked against JSON's grammar (strings valid UTF-8, at most 64 levels deep)
    /// and handed over as its text, `.raw`.
    static func scalarMembers(
        _ bytes: UnsafeBufferPointer<UInt8>, rawKey: StaticString? = nil, _ body: (UnsafeBufferPointer<UInt8>, Scalar) -> Bool
    ) -> Bool {
        var reader = FlatJSON(bytes: bytes)
        reader.skipSpace()
        guard reader.consume(UInt8(ascii: "{")) else { return false }
        reader.skipSpace()
        if !reader.consume(UInt8(ascii: "}")) {
            while true {
                reader.skipSpace()
                guard let key = reader.rawString() else { return false }
                reader.skipSpace()
                guard reader.consume(UInt8(ascii: ":")) else { return false }
                reader.skipSpace()
                let value: Scalar?
                if let rawKey, Self.equal(key, rawKey) {
                    let start = reader.position
                    guard reader.skipValue(depth: 64) else { return false }
                    let text = UnsafeBufferPointer(rebasing: bytes[start..<reader.position])
                    guard Self.isUTF8(text) else { return false }
                    value = .raw(text)
                } else {
                    value = reader.scalar()
                }
                guard let value, body(key, value) else { return false }
                reader.skipSpace()
                if reader.consume(UInt8(ascii: ",")) { continue }
                guard reader.consume(UInt8(ascii: "}")) else { return false }
                break
            }
        }
        reader.skipSpace()
        return reader.position == bytes.count
    }

    private mutating func scalar() -> Scalar? {
        switch current {
        case UInt8(ascii: "\""): return rawString().map(Scalar.string)
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        default:
            switch integer() {
            case .unsigned(let value)?: return .unsigned(value)
            case .negative(let value)?: return .negative(value)
            default: return nil
            }
        }
    }

    /// Whether `bytes` are valid UTF-8. ASCII, nearly every raw value, is checked with a plain
    /// loop: the standard library's generic validation cost about 900 instructions a value.
    static func isUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where byte >= 0x80 { return String(validating: bytes, as: UTF8.self) != nil }
        return true
    }

    /// Whether `bytes` are the text of `text`.
    static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ text: StaticString) -> Bool {
        guard bytes.count == text.utf8CodeUnitCount else { return false }
        for index in 0..<bytes.count where bytes[index] != text.utf8Start[index] { return false }
        return true
    }

    /// Moves past one JSON value of any shape, checking its grammar (RFC 8259; UTF-8 is checked
    /// by the caller); false when it is not JSON or nests deeper than `depth`.
    private mutating func skipValue(depth: Int) -> Bool {
        guard depth > 0, let byte = current else { return false }
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            position += 1
            skipSpace()
            if consume(close) { return true }
            while true {
                skipSpace()
                if close == UInt8(ascii: "}") {
                    guard skipString() else { return false }
                    skipSpace()
                    guard consume(UInt8(ascii: ":")) else { return false }
                    skipSpace()
                }
                guard skipValue(depth: depth - 1) else { return false }
                skipSpace()
                if consume(UInt8(ascii: ",")) { continue }
                return consume(close)
            }
        case UInt8(ascii: "\""): return skipString()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return skipNumber()
        }
    }

    /// A string with any escapes JSON allows; bytes from 0x80 up pass (the caller checks UTF-8).
    private mutating func skipString() -> Bool {
        guard consume(UInt8(ascii: "\"")) else { return false }
        while let byte = current {
            position += 1
            switch byte {
            case UInt8(ascii: "\""): return true
            case UInt8(ascii: "\\"):
                guard let escaped = current else { return false }
                position += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    continue
                case UInt8(ascii: "u"):
                    for _ in 0..<4 {
                        guard let hex = current, Self.isHexDigit(hex) else { return false }
                        position += 1
                    }
                default: return false
                }
            case 0x00..<0x20: return false
            default: continue
            }
        }
        return false
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func skipNumber() -> Bool {
        _ = consume(UInt8(ascii: "-"))
        guard let first = current, Self.isDigit(first) else { return false }
        position += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if consume(UInt8(ascii: ".")) {
            guard let digit = current, Self.isDigit(digit) else { return false }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            guard let digit = current, Self.isDigit(digit) else { return false }
            skipDigits()
        }
        return true
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while let byte = current, Self.isDigit(byte) { position += 1 }
    }

    private static let maxMembers = 16
    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0

    private init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipSpace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            position += 1
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard current == byte else { return false }
        position += 1
        return true
    }

    private mutating func object(depth: Int) -> [(key: String, value: Value)]? {
        guard depth > 0, consume(UInt8(ascii: "{")) else { return nil }
        var members: [(key: String, value: Value)] = []
        // Room for the known shapes at once: growing one element at a time cost three allocations.
        members.reserveCapacity(12)
        skipSpace()
        if consume(UInt8(ascii: "}")) { return members }
        while true {
            skipSpace()
            guard let key = string() else { return nil }
            // Foundation's handling of a repeated key is its own business: leave those frames to it.
            // Known shapes have at most 11 keys; a frame of thousands must not cost quadratic time here.
            if members.count == Self.maxMembers || members.contains(where: { $0.key == key }) { return nil }
            skipSpace()
            guard consume(UInt8(ascii: ":")) else { return nil }
            skipSpace()
            guard let value = value(depth: depth) else { return nil }
            members.append((key, value))
            skipSpace()
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "}")) ? members : nil
        }
    }

    private mutating func value(depth: Int) -> Value? {
        switch current {
        case UInt8(ascii: "\""): return string().map(Value.string)
        case UInt8(ascii: "{"): return object(depth: depth - 1).map(Value.object)
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        default: return integer()
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - position >= count else { return false }
        for offset in 0..<count where bytes[position + offset] != word.utf8Start[offset] {
            return false
        }
        position += count
        return true
    }

    /// A string of printable ASCII without escapes.
    private mutating func string() -> String? {
        rawString().map { String(decoding: $0, as: UTF8.self) }
    }

    /// The bytes between the quotes of a string of printable ASCII without escapes.
    private mutating func rawString() -> UnsafeBufferPointer<UInt8>? {
        guard consume(UInt8(ascii: "\"")), let base = bytes.baseAddress else { return nil }
        // A local index over the base pointer: stepping `position` through `current` cost about
        // twice as much per byte, and every key and string value of a frame comes through here.
        let start = position
        var index = start
        while index < bytes.count {
            let byte = base[index]
            if byte == UInt8(ascii: "\"") {
                position = index + 1
                return UnsafeBufferPointer(start: base + start, count: index - start)
            }
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
            index += 1
        }
        return nil
    }

    /// An integer in JSON's grammar (no leading zeros), without fraction or exponent.
    private mutating func integer() -> Value? {
        let negative = consume(UInt8(ascii: "-"))
        guard let first = current, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { return nil }
        var magnitude: UInt64 = 0
        let start = position
        while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            let (times, overflowTimes) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflowSum) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflowTimes, !overflowSum else { return nil }
            magnitude = sum
            position += 1
        }
        if first == UInt8(ascii: "0"), position - start > 1 { return nil }
        if let next = current, next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            return nil
        }
        guard negative else { return .unsigned(magnitude) }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return .negative(-Int64(magnitude))
    }
}

/// Appends JSON text to a byte array: the few shapes replies and requests need.
struct JSONWriter: JSONSink {
    var bytes: [UInt8] = []

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    mutating func byte(_ byte: UInt8) {
        bytes.append(byte)
    }

    mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func bytes(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes.append(contentsOf: bytes)
    }

    mutating func unsigned(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes: room for 20 digits
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[31 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            bytes.append(contentsOf: buffer[(32 - count)...])
        }
    }
}
