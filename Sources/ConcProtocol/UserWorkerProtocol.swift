import Foundation

/// The protocol between concd and a user's worker program (docs/worker-protocol.md): one JSON object
/// a line, both ways, on the stream socket whose descriptor the worker finds in `CONCD_WORKER_FD`.
/// Not the worker's stdout, so a stray `print` in user code cannot break it.
public enum UserWorkerProtocol {
    /// The version this daemon speaks; a worker's ready message names the one it speaks.
    public static let version = 1
    /// The environment variable that names the worker's descriptor.
    public static let descriptorVariable = "CONCD_WORKER_FD"

    /// A message from the worker.
    public enum Message: Sendable, Equatable {
        /// Start-up is done (imports, models loaded); `version` is the protocol it speaks and
        /// `functions`, when it says, the functions it has.
        case ready(version: Int, functions: [String]?)
        /// The answer to task `id`: what the function returned, or the error it raised.
        case result(id: UInt64, Result<JSONText, WireError>)
    }

    /// Encodes task `id` (a line, newline included).
    public static func encodeTask(id: UInt64, function: String, arguments: JSONText, timeoutMilliseconds: Int64?) -> [UInt8] {
        var writer = JSONWriter(capacity: 64 + arguments.text.utf8.count)
        writeTask(id: id, function: function, arguments: arguments, timeoutMilliseconds: timeoutMilliseconds, to: &writer)
        return writer.bytes
    }

    /// Encodes task `id` as `encodeTask` does, into memory that lives only during `body`: on the
    /// stack unless the arguments are large. The daemon encodes one per call it sends, and growing
    /// an array for it cost about 650 instructions a call.
    public static func withEncodedTask(
        id: UInt64, function: String, arguments: JSONText, timeoutMilliseconds: Int64?, _ body: (UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        // The fixed text (`{"id":`, `,"fn":`, `,"args":`, `,"timeout_ms":`, `}` and the newline: 36
        // bytes), two integers of at most 20 characters, the name escaped at worst, the arguments as they are.
        let room = 36 + 2 * 20 + JSONCursor.room(for: function) + arguments.text.utf8.count
        return withUnsafeTemporaryAllocation(byteCount: room, alignment: 1) { memory in
            var cursor = JSONCursor(memory)
            writeTask(id: id, function: function, arguments: arguments, timeoutMilliseconds: timeoutMilliseconds, to: &cursor)
            precondition(cursor.count <= room, "a task line outgrew the room reserved for it")
            return body(UnsafeRawBufferPointer(rebasing: memory[..<cursor.count]))
        }
    }

    private static func writeTask(
        id: UInt64, function: String, arguments: JSONText, timeoutMilliseconds: Int64?, to sink: inout some JSONSink
    ) {
        sink.raw(#"{"id":"#)
        sink.unsigned(id)
        sink.raw(#","fn":"#)
        sink.string(function)
        sink.raw(#","args":"#)
        sink.text(arguments.text)
        if let timeoutMilliseconds {
            sink.raw(#","timeout_ms":"#)
            sink.signed(timeoutMilliseconds)
        }
        sink.raw("}\n")
    }

    /// Decodes one line from the worker (without its newline), or says in a sentence what is wrong with it.
    public static func decode(_ line: some Collection<UInt8>) -> Result<Message, DecodingFailure> {
        if let fast = line.withContiguousStorageIfAvailable(fastResult) ?? nil { return .success(fast) }
        let wire: WireMessage
        do {
            wire = try JSONDecoder().decode(WireMessage.self, from: Data(line))
        } catch {
            let preview = String(decoding: line.prefix(80), as: UTF8.self)
            return .failure(DecodingFailure(reason: "a line that is not a JSON object of the worker protocol: '\(preview)'"))
        }
        if wire.ready == true {
            guard let version = wire.protocolVersion else {
                return .failure(DecodingFailure(reason: "a ready message without 'protocol' (the version it speaks)"))
            }
            return .success(.ready(version: version, functions: wire.functions))
        }
        guard let id = wire.id, let ok = wire.ok else {
            return .failure(DecodingFailure(reason: "a message that is neither ready nor a result (it needs 'id' and 'ok')"))
        }
        if ok {
            return .success(.result(id: id, .success(wire.result ?? .null)))
        }
        let error = wire.error
        let type = error?.type ?? "Error"
        let message = error?.message ?? "the function failed without a message"
        return .success(.result(id: id, .failure(.taskFailed(type: type, message: "\(type): \(message)", traceback: error?.traceback))))
    }

    /// A successful result (`{"id":N,"ok":true,"result":…}`, nearly every line) read without
    /// Foundation; nil for anything else, which Foundation's decoder reads.
    private static func fastResult(_ bytes: UnsafeBufferPointer<UInt8>) -> Message? {
        var id: UInt64?
        var ok = false
        var result = JSONText.null
        let read = FlatJSON.scalarMembers(bytes, rawKey: "result") { key, value in
            switch (key.count, value) {
            case (2, .unsigned(let number)) where key[0] == UInt8(ascii: "i") && key[1] == UInt8(ascii: "d") && id == nil:
                id = number
            case (2, .bool(true)) where key[0] == UInt8(ascii: "o") && key[1] == UInt8(ascii: "k") && !ok:
                ok = true
            case (6, .raw(let text)):
                result = JSONText(trusted: String(decoding: text, as: UTF8.self))
            default:
                return false
            }
            return true
        }
        guard read, ok, let id else { return nil }
        return .result(id: id, .success(result))
    }

    /// Why a worker's line could not be read.
    public struct DecodingFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// A sentence naming what the worker sent.
        public var reason: String
        public var description: String { reason }
    }

    private struct WireMessage: Decodable {
        var ready: Bool?
        var protocolVersion: Int?
        var functions: [String]?
        var id: UInt64?
        var ok: Bool?
        var result: JSONText?
        var error: WireFailure?

        enum CodingKeys: String, CodingKey {
            case ready, id, ok, result, error, functions
            case protocolVersion = "protocol"
        }
    }

    private struct WireFailure: Decodable {
        var type: String?
        var message: String?
        var traceback: String?
    }
}
