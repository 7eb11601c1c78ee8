import ConcProtocol

/// The internal, binary daemon↔worker channel. Each message is one SOCK_SEQPACKET datagram, so
/// it needs no framing: a read returns exactly one message.
package enum WorkerMessage {
    /// The largest message either side sends (a request with a URL of `ProtocolLimits.maxURLBytes`).
    package static let maxBytes = 16 * 1024

    private enum Tag: UInt8 {
        case cpu = 1, sleep, io, noop
        case ok = 0x40, failure, hello
    }

    private enum ValueTag: UInt8 {
        case none = 0, integer, http
    }

    /// A request the daemon sends.
    package struct Task: Equatable {
        package var workload: Workload
        /// The milliseconds left before the deadline, or 0 for none.
        package var remainingMilliseconds: Int64

        package init(workload: Workload, remainingMilliseconds: Int64) {
            self.workload = workload
            self.remainingMilliseconds = remainingMilliseconds
        }
    }

    /// Encodes a task for a worker.
    package static func encode(_ task: Task) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        func put(_ tag: Tag, _ argument: Int64) {
            bytes.append(tag.rawValue)
            append(argument, to: &bytes)
            append(task.remainingMilliseconds, to: &bytes)
        }
        switch task.workload {
        case .cpu(let n): put(.cpu, n)
        case .sleep(let ms): put(.sleep, ms)
        case .io(let url):
            put(.io, 0)
            bytes.append(contentsOf: url.utf8)
        case .noop: put(.noop, 0)
        case .async(let url):
            // Never sent: the Submission check keeps async GETs off the process pool.
            put(.io, 0)
            bytes.append(contentsOf: url.utf8)
        }
        return bytes
    }

    /// Decodes a task in the worker; nil when the bytes are not a task.
    package static func decodeTask(_ bytes: ArraySlice<UInt8>) -> Task? {
        guard bytes.count >= 17, let tag = Tag(rawValue: bytes[bytes.startIndex]) else { return nil }
        let argument = integer(bytes, at: 1)
        let remaining = integer(bytes, at: 9)
        switch tag {
        case .cpu: return Task(workload: .cpu(n: argument), remainingMilliseconds: remaining)
        case .sleep: return Task(workload: .sleep(milliseconds: argument), remainingMilliseconds: remaining)
        case .io:
            let url = String(decoding: bytes.dropFirst(17), as: UTF8.self)
            return Task(workload: .io(url: url), remainingMilliseconds: remaining)
        case .noop: return Task(workload: .noop, remainingMilliseconds: remaining)
        case .ok, .failure, .hello: return nil
        }
    }

    /// A message a worker sends.
    package enum Reply: Equatable {
        /// The worker is up and ready.
        case hello(pid: Int32)
        /// The task's result.
        case result(Result<TaskValue, WireError>)
    }

    /// Encodes a worker's reply.
    package static func encode(_ reply: Reply) -> [UInt8] {
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
            case .http(let summary):
                bytes.append(ValueTag.http.rawValue)
                append(Int64(summary.status), to: &bytes)
                append(Int64(bitPattern: summary.bytes), to: &bytes)
                append(Int64(bitPattern: summary.timeMicroseconds), to: &bytes)
            }
        case .result(.failure(let error)):
            bytes.append(Tag.failure.rawValue)
            let code = Array(error.code.rawValue.utf8)
            bytes.append(UInt8(code.count))
            bytes.append(contentsOf: code)
            bytes.append(contentsOf: error.message.utf8.prefix(maxBytes - 64))
        }
        return bytes
    }

    /// Decodes a worker's reply in the daemon; nil when the bytes are not a reply.
    package static func decodeReply(_ bytes: ArraySlice<UInt8>) -> Reply? {
        guard let first = bytes.first, let tag = Tag(rawValue: first) else { return nil }
        switch tag {
        case .hello:
            guard bytes.count >= 9 else { return nil }
            return .hello(pid: Int32(truncatingIfNeeded: integer(bytes, at: 1)))
        case .ok:
            guard bytes.count >= 2, let valueTag = ValueTag(rawValue: bytes[bytes.startIndex + 1]) else { return nil }
            switch valueTag {
            case .none: return .result(.success(.empty))
            case .integer:
                guard bytes.count >= 10 else { return nil }
                return .result(.success(.integer(integer(bytes, at: 2))))
            case .http:
                guard bytes.count >= 26 else { return nil }
                let summary = HTTPSummary(
                    status: Int(integer(bytes, at: 2)),
                    bytes: UInt64(bitPattern: integer(bytes, at: 10)),
                    timeMicroseconds: UInt64(bitPattern: integer(bytes, at: 18))
                )
                return .result(.success(.http(summary)))
            }
        case .failure:
            guard bytes.count >= 2 else { return nil }
            let codeLength = Int(bytes[bytes.startIndex + 1])
            guard bytes.count >= 2 + codeLength else { return nil }
            let codeBytes = bytes.dropFirst(2).prefix(codeLength)
            guard let code = ErrorCode(rawValue: String(decoding: codeBytes, as: UTF8.self)) else { return nil }
            let message = String(decoding: bytes.dropFirst(2 + codeLength), as: UTF8.self)
            return .result(.failure(WireError(code, message)))
        case .cpu, .sleep, .io, .noop:
            return nil
        }
    }

    private static func append(_ value: Int64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func integer(_ bytes: ArraySlice<UInt8>, at offset: Int) -> Int64 {
        var value: Int64 = 0
        withUnsafeMutableBytes(of: &value) { raw in
            for index in 0..<8 { raw[index] = bytes[bytes.startIndex + offset + index] }
        }
        return Int64(littleEndian: value)
    }
}
