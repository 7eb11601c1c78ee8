import Foundation

/// One JSON value of any shape, kept as compact text: the arguments of a `call` and what the user's
/// function returned. concd does not look inside; it checks the text is JSON and passes it on.
public struct JSONText: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The value's JSON text: as it came when the fast readers took it (spaces inside kept), compact
    /// when Foundation read it (an object's keys then in the order Foundation gives them).
    public let text: String

    /// The JSON `null`.
    public static let null = JSONText(trusted: "null")

    /// Reads `bytes` as one JSON value; nil when they are not JSON.
    public init?(parsing bytes: some Collection<UInt8>) {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else { return nil }
        self.init(value)
    }

    /// Reads `text` as one JSON value; nil when it is not JSON.
    public init?(parsing text: String) {
        self.init(parsing: Array(text.utf8))
    }

    init(_ value: JSONValue) {
        var writer = JSONWriter(capacity: 64)
        value.write(to: &writer)
        text = String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Text already known to be compact JSON (written by concd itself).
    init(trusted text: String) {
        self.text = text
    }

    public init(from decoder: any Decoder) throws {
        self.init(try JSONValue(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)).encode(to: encoder)
    }

    public var description: String { text }
}

/// The shapes of JSON, for reading a value of unknown shape with Foundation and writing it back.
enum JSONValue: Codable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Members, keys unique (JSONDecoder keeps one of a repeated key).
    case object([(String, JSONValue)])

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            self = .object(try object.allKeys.map { ($0.stringValue, try object.decode(JSONValue.self, forKey: $0)) })
            return
        }
        if var array = try? decoder.unkeyedContainer() {
            var values: [JSONValue] = []
            while !array.isAtEnd { values.append(try array.decode(JSONValue.self)) }
            self = .array(values)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let bool = try? single.decode(Bool.self) {
            self = .bool(bool)
        } else if let integer = try? single.decode(Int64.self) {
            self = .integer(integer)
        } else if let number = try? single.decode(Double.self) {
            self = .number(number)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var single = encoder.singleValueContainer()
            try single.encodeNil()
        case .bool(let bool):
            var single = encoder.singleValueContainer()
            try single.encode(bool)
        case .integer(let integer):
            var single = encoder.singleValueContainer()
            try single.encode(integer)
        case .number(let number):
            var single = encoder.singleValueContainer()
            try single.encode(number)
        case .string(let string):
            var single = encoder.singleValueContainer()
            try single.encode(string)
        case .array(let values):
            var array = encoder.unkeyedContainer()
            for value in values { try array.encode(value) }
        case .object(let members):
            var object = encoder.container(keyedBy: Key.self)
            for (key, value) in members { try object.encode(value, forKey: Key(stringValue: key)) }
        }
    }

    func write(to writer: inout JSONWriter) {
        switch self {
        case .null: writer.raw("null")
        case .bool(let bool): if bool { writer.raw("true") } else { writer.raw("false") }
        case .integer(let integer): writer.signed(integer)
        case .number(let number): writer.bytes.append(contentsOf: Array("\(number)".utf8))
        case .string(let string): writer.string(string)
        case .array(let values):
            writer.bytes.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { writer.bytes.append(UInt8(ascii: ",")) }
                value.write(to: &writer)
            }
            writer.bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            writer.bytes.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { writer.bytes.append(UInt8(ascii: ",")) }
                writer.string(key)
                writer.bytes.append(UInt8(ascii: ":"))
                value.write(to: &writer)
            }
            writer.bytes.append(UInt8(ascii: "}"))
        }
    }
}
