import NIOCore

/// Where JSON text is written: a growing byte array (`JSONWriter`) or room reserved in a
/// `ByteBuffer` beforehand (`JSONCursor`). The reply encoder is written once, over this.
protocol JSONSink {
    mutating func byte(_ byte: UInt8)
    mutating func raw(_ text: StaticString)
    mutating func bytes(_ bytes: UnsafeBufferPointer<UInt8>)
    mutating func unsigned(_ value: UInt64)
}

extension JSONSink {
    mutating func signed(_ value: Int64) {
        if value < 0 { byte(UInt8(ascii: "-")) }
        unsigned(value.magnitude)
    }

    /// A string, escaped as Foundation's JSONEncoder escapes it (slashes left alone).
    mutating func string(_ text: String) {
        byte(UInt8(ascii: "\""))
        let copied = text.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            // Nearly every string (kinds, pools, worker names) needs no escape: checked, then one copy.
            for byte in utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                return false
            }
            bytes(utf8)
            return true
        }
        if copied != true {
            for byte in text.utf8 { JSONEscape.write(byte, to: &self) }
        }
        byte(UInt8(ascii: "\""))
    }

    /// A string's text as it is (already JSON).
    mutating func text(_ text: String) {
        var text = text
        text.withUTF8 { bytes($0) }
    }
}

/// Writes JSON text through a pointer into room its caller reserved for the worst case: no capacity
/// or uniqueness check per piece, which `Array.append` paid about ten times per reply (about 1 400
/// instructions of a no-op's 2 100 to encode its reply, callgrind), and no copy from an array into
/// the connection's buffer afterwards.
struct JSONCursor: JSONSink {
    private let base: UnsafeMutablePointer<UInt8>
    /// Bytes written so far.
    private(set) var count = 0

    /// A cursor at the start of `room`, which must be as long as the longest text written to it.
    init(_ room: UnsafeMutableRawBufferPointer) {
        base = room.baseAddress!.assumingMemoryBound(to: UInt8.self)
    }

    mutating func byte(_ byte: UInt8) {
        base[count] = byte
        count += 1
    }

    mutating func raw(_ text: StaticString) {
        (base + count).update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        count += text.utf8CodeUnitCount
    }

    mutating func bytes(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let start = bytes.baseAddress else { return }
        (base + count).update(from: start, count: bytes.count)
        count += bytes.count
    }

    mutating func unsigned(_ value: UInt64) {
        var digits = 1
        var scale: UInt64 = 10
        while digits < 20, value >= scale {
            digits += 1
            scale = scale &* 10
        }
        var rest = value
        for index in stride(from: count + digits - 1, through: count, by: -1) {
            base[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        }
        count += digits
    }

    /// The most bytes `string(text)` may write: every byte escaped as `\u00XX`, and the quotes.
    static func room(for text: String) -> Int {
        6 * text.utf8.count + 2
    }
}

/// JSON's escapes, as Foundation's JSONEncoder writes them (slashes left alone).
enum JSONEscape {
    static func write(_ byte: UInt8, to sink: inout some JSONSink) {
        switch byte {
        case UInt8(ascii: "\""): sink.raw("\\\"")
        case UInt8(ascii: "\\"): sink.raw("\\\\")
        case 0x0A: sink.raw("\\n")
        case 0x0D: sink.raw("\\r")
        case 0x09: sink.raw("\\t")
        case 0x08: sink.raw("\\b")
        case 0x0C: sink.raw("\\f")
        case 0x00..<0x20:
            sink.raw("\\u00")
            let hex: StaticString = "0123456789abcdef"
            sink.byte(hex.utf8Start[Int(byte >> 4)])
            sink.byte(hex.utf8Start[Int(byte & 0x0F)])
        default: sink.byte(byte)
        }
    }
}
