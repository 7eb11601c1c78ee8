import Foundation
import NIOCore

/// Encodes and decodes ``Reply`` frames.
///
/// Task, ping, error and stored-job replies, which are nearly all of them, are written and read by
/// hand: Foundation's coders cost most of a no-op's time in the daemon and the client. The text is
/// the same as `JSONEncoder` with sorted keys would write; `status`, `metrics`, `job` and `jobs`
/// replies, and any frame the fast reader does not take, go through Foundation.
public enum ReplyCodec {
    /// Encodes a reply as one frame (no newline).
    public static func encode(_ reply: Reply) -> [UInt8] {
        if needsFoundation(reply) { return foundationEncode(reply) }
        var writer = JSONWriter(capacity: 192)
        write(reply, to: &writer)
        return writer.bytes
    }

    /// Appends a reply as one frame and its newline to `buffer`. The simple shapes are written in
    /// place, into room reserved for their longest possible text.
    public static func encode(_ reply: Reply, appendingLineTo buffer: inout ByteBuffer) {
        guard !needsFoundation(reply), let room = room(for: reply) else {
            buffer.writeBytes(encode(reply))
            buffer.writeInteger(UInt8(ascii: "\n"))
            return
        }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { room in
            var cursor = JSONCursor(room)
            write(reply, to: &cursor)
            cursor.byte(UInt8(ascii: "\n"))
            return cursor.count
        }
    }

    /// Whether Foundation writes `reply`: `status`, `metrics`, `job` and `jobs` replies.
    private static func needsFoundation(_ reply: Reply) -> Bool {
        // Tested by case, not `!= nil`: comparing an optional status or job with nil copied it
        // (about 350 instructions a reply).
        if case .some = reply.status { return true }
        if case .some = reply.metrics { return true }
        if case .some = reply.job { return true }
        if case .some = reply.jobs { return true }
        return false
    }

    /// The most bytes `write(reply)` and a newline may take, or nil past 64 KiB (a command's long
    /// output, say): such a reply is written to an array first rather than reserve six times its size.
    static func room(for reply: Reply) -> Int? {
        // Every key, punctuation mark and number the fast shapes can hold takes under 700 bytes.
        var room = 1024
        func add(_ text: String?) {
            if let text { room += JSONCursor.room(for: text) }
        }
        add(reply.detail)
        if let error = reply.error {
            add(error.code.rawValue)
            add(error.message)
            add(error.traceback)
            add(error.type)
        }
        add(reply.kind?.rawValue)
        add(reply.pool?.rawValue)
        add(reply.worker)
        switch reply.value {
        case .json(let json)?: room += json.text.utf8.count
        case .command(let result)?:
            add(result.stdout)
            add(result.stderr)
        case .integer?, .empty?, .http?, nil: break
        }
        return room <= 65_536 ? room : nil
    }

    /// Writes the simple shapes of `reply`, keys in sorted order as JSONEncoder's `.sortedKeys` writes them.
    private static func write(_ reply: Reply, to writer: inout some JSONSink) {
        var separator = false
        func key(_ name: StaticString) {
            if separator { writer.byte(UInt8(ascii: ",")) }
            separator = true
            writer.raw(name)
        }
        writer.byte(UInt8(ascii: "{"))
        if let attempts = reply.attempts {
            key(#""attempts":"#)
            writer.signed(Int64(attempts))
        }
        if let detail = reply.detail {
            key(#""detail":"#)
            writer.string(detail)
        }
        if let error = reply.error {
            key(#""error":{"code":"#)
            writer.string(error.code.rawValue)
            writer.raw(#","message":"#)
            writer.string(error.message)
            if let traceback = error.traceback {
                writer.raw(#","traceback":"#)
                writer.string(traceback)
            }
            if let type = error.type {
                writer.raw(#","type":"#)
                writer.string(type)
            }
            writer.byte(UInt8(ascii: "}"))
        }
        if let id = reply.id {
            key(#""id":"#)
            writer.unsigned(id)
        }
        if let job = reply.jobID {
            key(#""job_id":"#)
            writer.signed(job)
        }
        if let kind = reply.kind {
            key(#""kind":"#)
            writer.string(kind.rawValue)
        }
        key(#""ok":"#)
        if reply.ok { writer.raw("true") } else { writer.raw("false") }
        if let pool = reply.pool {
            key(#""pool":"#)
            writer.string(pool.rawValue)
        }
        if let value = reply.value {
            key(#""value":"#)
            switch value {
            case .integer(let integer): writer.signed(integer)
            case .empty: writer.raw("null")
            case .http(let summary):
                writer.raw(#"{"bytes":"#)
                writer.unsigned(summary.bytes)
                writer.raw(#","status":"#)
                writer.signed(Int64(summary.status))
                writer.raw(#","time_us":"#)
                writer.unsigned(summary.timeMicroseconds)
                writer.byte(UInt8(ascii: "}"))
            case .json(let json):
                writer.text(json.text)
            case .command(let result):
                writer.byte(UInt8(ascii: "{"))
                if let code = result.exitCode {
                    writer.raw(#""exit_code":"#)
                    writer.signed(Int64(code))
                    writer.byte(UInt8(ascii: ","))
                }
                if let signal = result.signal {
                    writer.raw(#""signal":"#)
                    writer.signed(Int64(signal))
                    writer.byte(UInt8(ascii: ","))
                }
                writer.raw(#""stderr":"#)
                writer.string(result.stderr)
                writer.raw(#","stderr_dropped":"#)
                writer.unsigned(result.stderrDropped)
                writer.raw(#","stdout":"#)
                writer.string(result.stdout)
                writer.raw(#","stdout_dropped":"#)
                writer.unsigned(result.stdoutDropped)
                writer.raw(#","time_us":"#)
                writer.unsigned(result.timeMicroseconds)
                writer.byte(UInt8(ascii: "}"))
            }
        }
        if let version = reply.version {
            key(#""version":"#)
            writer.signed(Int64(version))
        }
        if let wall = reply.wallMicroseconds {
            key(#""wall_us":"#)
            writer.unsigned(wall)
        }
        if let worker = reply.worker {
            key(#""worker":"#)
            writer.string(worker)
        }
        if let pid = reply.workerPID {
            key(#""worker_pid":"#)
            writer.signed(Int64(pid))
        }
        writer.byte(UInt8(ascii: "}"))
    }

    /// Decodes one frame into a reply.
    public static func decode(_ frame: some Collection<UInt8>) throws -> Reply {
        let fast = frame.withContiguousStorageIfAvailable { fastDecode($0) } ?? Array(frame).withUnsafeBufferPointer { fastDecode($0) }
        if let fast { return fast }
        return try JSONDecoder().decode(Reply.self, from: Data(frame))
    }

    static func foundationEncode(_ reply: Reply) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A reply holds only strings, integers, booleans and finite doubles: encoding cannot fail.
        return Array(try! encoder.encode(reply))
    }

    /// The reply in `bytes` when it is of the simple shapes, else nil (Foundation then decides).
    static func fastDecode(_ bytes: UnsafeBufferPointer<UInt8>) -> Reply? {
        guard let members = FlatJSON.object(bytes) else { return nil }
        var reply = Reply(id: nil, ok: false)
        var sawOK = false
        for (key, value) in members {
            if case .null = value {
                // Every field but ok is optional, and null reads as absent.
                guard key != "ok" else { return nil }
                continue
            }
            switch key {
            case "id":
                guard case .unsigned(let id) = value else { return nil }
                reply.id = id
            case "ok":
                guard case .bool(let ok) = value else { return nil }
                reply.ok = ok
                sawOK = true
            case "kind":
                guard case .string(let name) = value, let kind = WorkloadKind(rawValue: name) else { return nil }
                reply.kind = kind
            case "pool":
                guard case .string(let name) = value, let pool = PoolName(rawValue: name) else { return nil }
                reply.pool = pool
            case "worker":
                guard case .string(let worker) = value else { return nil }
                reply.worker = worker
            case "worker_pid":
                guard let pid = value.int64, let narrow = Int32(exactly: pid) else { return nil }
                reply.workerPID = narrow
            case "wall_us":
                guard case .unsigned(let wall) = value else { return nil }
                reply.wallMicroseconds = wall
            case "version":
                guard let version = value.int64, let narrow = Int(exactly: version) else { return nil }
                reply.version = narrow
            case "attempts":
                guard let attempts = value.int64, let narrow = Int(exactly: attempts) else { return nil }
                reply.attempts = narrow
            case "detail":
                guard case .string(let detail) = value else { return nil }
                reply.detail = detail
            case "job_id":
                guard let job = value.int64 else { return nil }
                reply.jobID = job
            case "value":
                switch value {
                case .unsigned, .negative:
                    guard let integer = value.int64 else { return nil }
                    reply.value = .integer(integer)
                case .object(let fields):
                    guard let summary = httpSummary(fields) else { return nil }
                    reply.value = .http(summary)
                default: return nil
                }
            case "error":
                guard case .object(let fields) = value, fields.count == 2,
                    case .string(let codeName)? = fields.first(where: { $0.key == "code" })?.value,
                    let code = ErrorCode(rawValue: codeName),
                    case .string(let message)? = fields.first(where: { $0.key == "message" })?.value
                else { return nil }
                reply.error = WireError(code, message)
            default:
                // `status`, or a field this version does not know: Foundation's decoder decides.
                return nil
            }
        }
        return sawOK ? reply : nil
    }

    private static func httpSummary(_ fields: [(key: String, value: FlatJSON.Value)]) -> HTTPSummary? {
        guard fields.count == 3,
            let status = fields.first(where: { $0.key == "status" })?.value.int64, let narrow = Int(exactly: status),
            case .unsigned(let bytes)? = fields.first(where: { $0.key == "bytes" })?.value,
            case .unsigned(let time)? = fields.first(where: { $0.key == "time_us" })?.value
        else { return nil }
        return HTTPSummary(status: narrow, bytes: bytes, timeMicroseconds: time)
    }
}
