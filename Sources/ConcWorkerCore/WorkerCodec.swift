/// The internal, binary daemon↔worker channel. Each message is one SOCK_SEQPACKET datagram, so
/// it needs no framing: a read returns exactly one message.
public enum WorkerCodec {
    /// The largest message either side sends (a request with a URL of `ProtocolLimits.maxURLBytes`).
    public static let maxBytes = 16 * 1024

    @usableFromInline
    enum Tag: UInt8 {
        case cpu = 1, sleep, io, noop
        case ok = 0x40, failure, hello
    }

    private enum ValueTag: UInt8 {
        case none = 0, integer, http
    }

    /// A message a worker sends.
    public enum Reply: Sendable, Equatable {
        /// The worker is up and ready.
        case hello(pid: Int32)
        /// The task's result.
        case result(WorkerResult)
    }

    /// Encodes a task for a worker.
    public static func encode(_ task: WorkerTask) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        func put(_ tag: Tag, _ argument: Int64) {
            bytes.append(tag.rawValue)
            append(argument, to: &bytes)
            append(task.remainingMilliseconds, to: &bytes)
        }
        switch task.kind {
        case .cpu(let n): put(.cpu, n)
        case .sleep(let ms): put(.sleep, ms)
        case .io(let url):
            put(.io, 0)
            bytes.append(contentsOf: url.utf8)
        case .noop: put(.noop, 0)
        }
        return bytes
    }

    /// Encodes a task into memory that lives only during `body`, on the stack for every task but a
    /// long URL: the daemon encodes one per task sent, and an array would be an allocation each.
    /// The bytes are those of `encode(_:)`. Inlinable, so that it is specialized for the caller's
    /// result: unspecialized, the generic temporary allocation cost about 1 000 instructions a task.
    @inlinable
    public static func withEncoded<Result>(_ task: WorkerTask, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var url: String?
        let tag: Tag
        let argument: Int64
        switch task.kind {
        case .cpu(let n): (tag, argument) = (.cpu, n)
        case .sleep(let milliseconds): (tag, argument) = (.sleep, milliseconds)
        case .io(let address): (tag, argument, url) = (.io, 0, address)
        case .noop: (tag, argument) = (.noop, 0)
        }
        let length = 17 + (url?.utf8.count ?? 0)
        return withUnsafeTemporaryAllocation(byteCount: length, alignment: 1) { raw in
            raw.storeBytes(of: tag.rawValue, toByteOffset: 0, as: UInt8.self)
            raw.storeBytes(of: argument.littleEndian, toByteOffset: 1, as: Int64.self)
            raw.storeBytes(of: task.remainingMilliseconds.littleEndian, toByteOffset: 9, as: Int64.self)
            if let url {
                _ = UnsafeMutableRawBufferPointer(rebasing: raw[17...]).initializeMemory(as: UInt8.self, from: url.utf8)
            }
            return body(UnsafeRawBufferPointer(raw))
        }
    }

    /// Decodes a task in the worker; nil when the bytes are not a task.
    public static func decodeTask(_ bytes: ArraySlice<UInt8>) -> WorkerTask? {
        guard bytes.count >= 17, let tag = Tag(rawValue: bytes[bytes.startIndex]) else { return nil }
        let argument = integer(bytes, at: 1)
        let remaining = integer(bytes, at: 9)
        switch tag {
        case .cpu: return WorkerTask(kind: .cpu(n: argument), remainingMilliseconds: remaining)
        case .sleep: return WorkerTask(kind: .sleep(milliseconds: argument), remainingMilliseconds: remaining)
        case .io:
            let url = String(decoding: bytes.dropFirst(17), as: UTF8.self)
            return WorkerTask(kind: .io(url: url), remainingMilliseconds: remaining)
        case .noop: return WorkerTask(kind: .noop, remainingMilliseconds: remaining)
        case .ok, .failure, .hello: return nil
        }
    }

    /// Encodes a worker's reply.
    public static func encode(_ reply: Reply) -> [UInt8] {
        var bytes: [UInt8] = []
        switch reply {
        case .hello(let pid):
            bytes.append(Tag.hello.rawValue)
            append(Int64(pid), to: &bytes)
        case .result(.success(let value)):
            bytes.append(Tag.ok.rawValue)
            switch value {
            case .empty:
                bytes.append(ValueTag.none.rawValue)
            case .integer(let integer):
                bytes.append(ValueTag.integer.rawValue)
                append(integer, to: &bytes)
            case .http(let status, let byteCount, let timeMicroseconds):
                bytes.append(ValueTag.http.rawValue)
                append(Int64(status), to: &bytes)
                append(Int64(bitPattern: byteCount), to: &bytes)
                append(Int64(bitPattern: timeMicroseconds), to: &bytes)
            }
        case .result(.failure(let failure)):
            bytes.append(Tag.failure.rawValue)
            let code = Array(failure.code.utf8.prefix(Int(UInt8.max)))
            bytes.append(UInt8(code.count))
            bytes.append(contentsOf: code)
            bytes.append(contentsOf: failure.message.utf8.prefix(maxBytes - 64))
        }
        return bytes
    }

    /// Decodes a worker's reply in the daemon; nil when the bytes are not a reply. The failure's
    /// code is not checked here: the daemon maps it to its `ErrorCode`s.
    public static func decodeReply(_ bytes: ArraySlice<UInt8>) -> Reply? {
        bytes.withUnsafeBytes { decodeReply($0) }
    }

    /// Decodes a worker's reply straight from the bytes a read left in memory (the daemon reads a
    /// reply into a NIO buffer, and copying it into an array first cost an allocation per task).
    public static func decodeReply(_ bytes: UnsafeRawBufferPointer) -> Reply? {
        guard let first = bytes.first, let tag = Tag(rawValue: first) else { return nil }
        switch tag {
        case .hello:
            guard bytes.count >= 9 else { return nil }
            return .hello(pid: Int32(truncatingIfNeeded: integer(bytes, at: 1)))
        case .ok:
            guard bytes.count >= 2, let valueTag = ValueTag(rawValue: bytes[1]) else { return nil }
            switch valueTag {
            case .none: return .result(.success(.empty))
            case .integer:
                guard bytes.count >= 10 else { return nil }
                return .result(.success(.integer(integer(bytes, at: 2))))
            case .http:
                guard bytes.count >= 26 else { return nil }
                return .result(.success(.http(
                    status: Int(integer(bytes, at: 2)),
                    bytes: UInt64(bitPattern: integer(bytes, at: 10)),
                    timeMicroseconds: UInt64(bitPattern: integer(bytes, at: 18))
                )))
            }
        case .failure:
            guard bytes.count >= 2 else { return nil }
            let codeLength = Int(bytes[1])
            guard bytes.count >= 2 + codeLength else { return nil }
            let code = String(decoding: bytes[2..<(2 + codeLength)], as: UTF8.self)
            let message = String(decoding: bytes[(2 + codeLength)...], as: UTF8.self)
            return .result(.failure(WorkerFailure(code: code, message: message)))
        case .cpu, .sleep, .io, .noop:
            return nil
        }
    }

    private static func append(_ value: Int64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func integer(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int64 {
        Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self))
    }

    private static func integer(_ bytes: ArraySlice<UInt8>, at offset: Int) -> Int64 {
        var value: Int64 = 0
        withUnsafeMutableBytes(of: &value) { raw in
            for index in 0..<8 { raw[index] = bytes[bytes.startIndex + offset + index] }
        }
        return Int64(littleEndian: value)
    }
}
