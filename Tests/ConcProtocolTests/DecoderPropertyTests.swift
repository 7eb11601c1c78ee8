import ConcProtocol
import Foundation
import NIOCore
import Testing

/// Property tests of the control protocol's decoders over many generated inputs: valid requests,
/// requests with every field given every kind of JSON value, mutated frames and plain noise.
/// Each run draws from a seed it prints, so a failure can be replayed with CONCD_PROPERTY_SEED;
/// CONCD_PROPERTY_ITERATIONS runs it longer than CI does.
@Suite struct DecoderPropertyTests {
    private static let iterations = Int(ProcessInfo.processInfo.environment["CONCD_PROPERTY_ITERATIONS"] ?? "") ?? 100_000
    private static let seed: UInt64 = {
        if let text = ProcessInfo.processInfo.environment["CONCD_PROPERTY_SEED"], let seed = UInt64(text) { return seed }
        return UInt64.random(in: 1...UInt64.max)
    }()

    /// Whatever the frame, decoding returns a request or a typed error with a sentence; a request
    /// survives encoding and decoding again unchanged; an error carries the frame's id when the
    /// frame is an object with a valid one.
    @Test func decodingAnyFrameGivesARequestOrATypedError() async throws {
        var generator = SplitMix64(seed: Self.seed)
        var counts = [String: Int]()
        for index in 0..<Self.iterations {
            // Seconds of work: lend the thread back now and then, or every async test in the run
            // waits for it (Swift's cooperative pool has one thread per core).
            if index % 1000 == 0 { await Task.yield() }
            let frame = FrameGenerator.frame(&generator)
            do {
                let request = try RequestCodec.decode(frame)
                counts["ok", default: 0] += 1
                let again = try RequestCodec.decode(RequestCodec.encode(request))
                #expect(again == request, "seed \(Self.seed) #\(index): \(String(decoding: frame, as: UTF8.self)) did not round-trip")
            } catch {
                counts[error.error.code.rawValue, default: 0] += 1
                #expect(!error.error.message.isEmpty)
                #expect(error.error.code.isRequestError || error.error.code == .overflow, "seed \(Self.seed) #\(index): \(error)")
                if let id = FrameGenerator.validID(in: frame) {
                    #expect(error.id == id, "seed \(Self.seed) #\(index): id lost from \(String(decoding: frame, as: UTF8.self))")
                }
            }
        }
        print("decoder property test: seed \(Self.seed), \(Self.iterations) frames: \(counts.sorted { $0.key < $1.key })")
        #expect(counts["ok", default: 0] > Self.iterations / 20, "the generator should make valid requests too")
        #expect(counts.count > 6, "the generator should reach many error codes: \(counts)")
    }

    /// The quick rejection of text that cannot be JSON never rejects what Foundation would read:
    /// over generated frames, their truncations and their bytes reversed, whenever it says "cannot
    /// be JSON", Foundation fails too, and `decode` answers as Foundation's path does.
    @Test func theQuickRejectionAgreesWithFoundation() async throws {
        var generator = SplitMix64(seed: Self.seed ^ 0xC0FFEE)
        var rejected = 0
        for index in 0..<(Self.iterations / 10) {
            if index % 1000 == 0 { await Task.yield() }
            var frame = FrameGenerator.frame(&generator)
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: frame = Array(frame.prefix(Int.random(in: 0...frame.count, using: &generator)))
            case 1: frame.reverse()
            default: break
            }
            guard frame.withUnsafeBufferPointer({ RequestCodec.cannotBeJSON($0) }) else { continue }
            rejected += 1
            let foundation = try? JSONSerialization.jsonObject(with: Data(frame), options: [.fragmentsAllowed])
            #expect(foundation == nil, "seed \(Self.seed) #\(index): Foundation reads \(frame)")
            do {
                _ = try RequestCodec.decode(frame)
                Issue.record("seed \(Self.seed) #\(index): \(frame) decoded")
            } catch {
                #expect(error.id == nil && error.error.code == .invalidJSON && error.error.message == "the frame is not valid JSON")
            }
        }
        #expect(rejected > Self.iterations / 100, "the generator should make frames that cannot be JSON")
        // Worked cases: a request without its brace, noise, white space, and what it leaves to Foundation.
        for (text, cannot) in [
            (#"{"id":1,"op":"ping""#, true), ("\u{7}x", true), ("  ", true), ("", true), (#"]"#, true),
            (#"{"id":1,"op":"ping"}"#, false), (#"[1]"#, false), ("\"x\"", false), ("12", false), ("{", true),
        ] {
            #expect(Array(text.utf8).withUnsafeBufferPointer { RequestCodec.cannotBeJSON($0) } == cannot, "\(text)")
        }
    }

    /// However a stream of lines is cut into reads, the frame decoder yields the same frames.
    @Test func framingDoesNotDependOnHowBytesArrive() async throws {
        var generator = SplitMix64(seed: Self.seed ^ 0x5DEECE66D)
        for index in 0..<(Self.iterations / 100) {
            if index % 10 == 0 { await Task.yield() }
            let lines = (0..<Int.random(in: 1...20, using: &generator)).map { _ in
                String(decoding: FrameGenerator.frame(&generator).filter { $0 != 10 && $0 != 13 }.prefix(200), as: UTF8.self)
            }
            let stream = Array(lines.joined(separator: "\n").utf8) + [10]
            var decoder = LineFrameDecoder(maxFrameBytes: 4096)
            var buffer = ByteBuffer()
            var frames: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                let length = min(stream.count - offset, Int.random(in: 1...64, using: &generator))
                buffer.writeBytes(stream[offset..<(offset + length)])
                offset += length
                while let frame = try decoder.nextFrame(&buffer) { frames.append(Array(frame.readableBytesView)) }
            }
            #expect(frames == lines.map { Array($0.utf8) })
        }
    }
}

/// A small, fast, seedable generator (SplitMix64), so a failing run can be replayed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Frames of every shape the decoder may meet.
enum FrameGenerator {
    private static let fields = ["v", "id", "op", "kind", "n", "ms", "url", "pool", "timeout_ms", "retries", "size", "pid", "extra"]
    private static let ops = ["ping", "status", "submit", "resize", "reload", "shutdown", "kill_worker", "fly", ""]
    private static let kinds = ["cpu", "io", "async", "sleep", "noop", "teleport"]
    private static let pools = ["process", "thread", "async", "gpu"]
    private static let urls = ["http://127.0.0.1:8080/", "https://[::1]:443/x", "ftp://x/", "http://", "http://h:99999/", "http://a b/"]

    static func frame(_ generator: inout SplitMix64) -> [UInt8] {
        switch Int.random(in: 0..<10, using: &generator) {
        case 0..<4: return Array(validRequest(&generator).utf8)
        case 4..<7: return Array(anyFields(&generator).utf8)
        case 7..<9: return mutate(Array(validRequest(&generator).utf8), &generator)
        default: return (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
    }

    /// The id a frame carries, when it is a JSON object whose `id` is a valid one.
    static func validID(in frame: [UInt8]) -> UInt64? {
        guard (try? JSONSerialization.jsonObject(with: Data(frame))) is [String: Any] else { return nil }
        let text = String(decoding: frame, as: UTF8.self)
        let parts = text.components(separatedBy: "\"id\":")
        guard parts.count == 2 else { return nil }
        let digits = parts[1].prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let next = parts[1].dropFirst(digits.count).first, next == "," || next == "}" else { return nil }
        return UInt64(digits)
    }

    private static func validRequest(_ generator: inout SplitMix64) -> String {
        let id = UInt64.random(in: 0...UInt64.max, using: &generator)
        switch Int.random(in: 0..<6, using: &generator) {
        case 0: return #"{"id":\#(id),"op":"ping"}"#
        case 1: return #"{"v":1,"id":\#(id),"op":"status"}"#
        case 2: return #"{"id":\#(id),"op":"submit","kind":"cpu","n":\#(Int.random(in: 0...1_000_000, using: &generator))}"#
        case 3:
            return #"{"id":\#(id),"op":"submit","kind":"sleep","ms":\#(Int.random(in: 0...1000, using: &generator)),"pool":"\#(pools[Int.random(in: 0..<3, using: &generator)])","timeout_ms":\#(Int.random(in: 1...5000, using: &generator))}"#
        case 4: return #"{"id":\#(id),"op":"submit","kind":"io","url":"http://127.0.0.1:\#(Int.random(in: 1...65535, using: &generator))/","retries":0}"#
        default: return #"{"id":\#(id),"op":"resize","pool":"thread","size":\#(Int.random(in: 1...64, using: &generator))}"#
        }
    }

    private static func anyFields(_ generator: inout SplitMix64) -> String {
        var parts: [String] = []
        for field in fields where Bool.random(using: &generator) {
            parts.append("\"\(field)\":\(value(for: field, &generator))")
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    private static func value(for field: String, _ generator: inout SplitMix64) -> String {
        switch Int.random(in: 0..<12, using: &generator) {
        case 0: return "null"
        case 1: return Bool.random(using: &generator) ? "true" : "false"
        case 2: return "\(Int64.random(in: Int64.min...Int64.max, using: &generator))"
        case 3: return "\(Int.random(in: -5...100, using: &generator))"
        case 4: return ["1.5", "1e400", "-0", "1e3", "123456789012345678901234567890", "18446744073709551615"].randomElement(using: &generator)!
        case 5: return "\"\(ops.randomElement(using: &generator)!)\""
        case 6: return "\"\(kinds.randomElement(using: &generator)!)\""
        case 7: return "\"\(pools.randomElement(using: &generator)!)\""
        case 8: return "\"\(urls.randomElement(using: &generator)!)\""
        case 9: return "[1,[2,{\"a\":[]}]]"
        case 10: return "{\"op\":\"ping\"}"
        default: return field == "op" ? "\"submit\"" : "\"\u{1F600}\\u0000\\\"\""
        }
    }

    private static func mutate(_ frame: [UInt8], _ generator: inout SplitMix64) -> [UInt8] {
        var bytes = frame
        for _ in 0..<Int.random(in: 1...4, using: &generator) where !bytes.isEmpty {
            let at = Int.random(in: 0..<bytes.count, using: &generator)
            switch Int.random(in: 0..<5, using: &generator) {
            case 0: bytes[at] = UInt8.random(in: 0...255, using: &generator)
            case 1: bytes.remove(at: at)
            case 2: bytes.insert(Array(#"{}[]":,0-e."#.utf8).randomElement(using: &generator)!, at: at)
            case 3: bytes.removeSubrange(at...)
            default: bytes.insert(contentsOf: bytes[at...].prefix(8), at: at)
            }
        }
        return bytes
    }
}
