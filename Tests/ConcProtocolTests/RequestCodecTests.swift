import ConcProtocol
import Testing

@Suite struct RequestCodecTests {
    private func decode(_ text: String) throws(RequestDecodingError) -> Request {
        try RequestCodec.decode(Array(text.utf8))
    }

    private func code(of text: String) -> ErrorCode? {
        do {
            _ = try decode(text)
            return nil
        } catch {
            return error.error.code
        }
    }

    @Test func everyOperationRoundTrips() throws {
        let requests: [Request] = [
            Request(id: 1, operation: .ping),
            Request(id: 2, operation: .status),
            Request(id: 3, operation: .submit(try Submission(workload: .cpu(n: 10_000_000)))),
            Request(id: 4, operation: .submit(try Submission(workload: .io(url: "http://127.0.0.1:8080/"), pool: .process))),
            Request(id: 5, operation: .submit(try Submission(workload: .async(url: "https://[::1]:8443/x"), timeoutMilliseconds: 1500))),
            Request(id: 6, operation: .submit(try Submission(workload: .sleep(milliseconds: 100), pool: .async))),
            Request(id: UInt64.max, operation: .submit(try Submission(workload: .noop, pool: .process))),
        ]
        for request in requests {
            #expect(try RequestCodec.decode(RequestCodec.encode(request)) == request)
        }
    }

    /// Every key the protocol has is read without Foundation, and a near miss of one is not.
    @Test func everyKeyIsReadByTheFastReader() {
        let frames = [
            #"{"v":1,"id":1,"op":"submit","kind":"cpu","n":5,"pool":"process","timeout_ms":10,"retries":1}"#,
            #"{"id":2,"op":"submit","kind":"sleep","ms":5}"#, #"{"id":3,"op":"submit","kind":"io","url":"http://x/"}"#,
            #"{"id":4,"op":"submit","fn":"f","args":[1,{"a":2}],"pool":"py"}"#, #"{"id":5,"op":"resize","pool":"thread","size":4}"#,
            #"{"id":6,"op":"kill_worker","pid":42}"#, #"{"id":7,"op":"job","job":9}"#, #"{"id":8,"op":"jobs","state":"queued","limit":5}"#,
            #"{"id":9,"op":"submit","kind":"noop","durable":true,"detach":true,"attempts":3}"#,
        ]
        for frame in frames { #expect(RequestCodec.readsWithoutFoundation(Array(frame.utf8)), "\(frame)") }
        for nearMiss in [#"{"vv":1}"#, #"{"ix":1}"#, #"{"pools":"a"}"#, #"{"kinds":"a"}"#, #"{"timeout_mx":1}"#, #"{"":1}"#] {
            #expect(!RequestCodec.readsWithoutFoundation(Array(nearMiss.utf8)), "\(nearMiss)")
        }
    }

    @Test func aPersonCanTypeARequest() throws {
        let request = try decode(#"{"op":"submit","kind":"cpu","n":10000000}"#)
        #expect(request.id == nil)
        #expect(request.operation == .submit(try Submission(workload: .cpu(n: 10_000_000))))
        #expect(try decode(#"{"id":9,"op":"ping","v":1}"#) == Request(id: 9, operation: .ping))
    }

    @Test func theIDSurvivesAnErrorSoTheReplyCanBeMatched() {
        do {
            _ = try decode(#"{"id":42,"op":"submit","kind":"nope"}"#)
            Issue.record("an unknown kind was accepted")
        } catch {
            #expect(error.id == 42)
            #expect(error.error.code == .unknownKind)
            #expect(error.error.message.contains("cpu, io, async, sleep, noop"))
        }
    }

    @Test(arguments: [
        (#"{"op":"submit","kind":"cpu","n":-5}"#, ErrorCode.invalidArgument),
        (#"{"op":"submit","kind":"cpu","n":"ten"}"#, .badRequest),
        (#"{"op":"submit","kind":"cpu","n":1.5}"#, .badRequest),
        (#"{"op":"submit","kind":"cpu","n":1e30}"#, .invalidArgument),
        (#"{"op":"submit","kind":"cpu","n":99999999999999999999999999}"#, .invalidArgument),
        (#"{"op":"submit","kind":"cpu","n":4294967297}"#, .overflow),
        (#"{"op":"submit","kind":"cpu"}"#, .badRequest),
        (#"{"op":"submit","kind":"teleport","n":1}"#, .unknownKind),
        (#"{"op":"submit"}"#, .badRequest),
        (#"{"op":"dance"}"#, .unknownOperation),
        (#"{"id":1}"#, .badRequest),
        (#"{"op":"ping","v":2}"#, .unsupportedVersion),
        (#"{"op":"submit","kind":"io","url":"ftp://example/"}"#, .invalidArgument),
        (#"{"op":"submit","kind":"io","url":"not a url"}"#, .invalidArgument),
        (#"{"op":"submit","kind":"io","url":"http://"}"#, .invalidArgument),
        (#"{"op":"submit","kind":"io","url":"http://host:99999/"}"#, .invalidArgument),
        (#"{"op":"submit","kind":"io","url":"http://127.0.0.1/","pool":"async"}"#, .unsupportedPool),
        (#"{"op":"submit","kind":"async","url":"http://127.0.0.1/","pool":"thread"}"#, .unsupportedPool),
        (#"{"op":"submit","kind":"cpu","n":1,"pool":"GPU"}"#, .unsupportedPool),
        (#"{"op":"submit","kind":"cpu","n":1,"pool":"a-pool-name-longer-than-32-chars-x"}"#, .unsupportedPool),
        (#"{"op":"resize","pool":"process","size":1025}"#, .invalidArgument),
        (#"{"op":"resize","pool":"crunch","size":0}"#, .invalidArgument),
        (#"{"op":"resize","pool":"no such!","size":1}"#, .unsupportedPool),
        (#"{"op":"submit","kind":"sleep","ms":1,"timeout_ms":0}"#, .invalidArgument),
        (#"{"op":"submit","kind":"sleep","ms":-1}"#, .invalidArgument),
        (#"{"id":"seven","op":"ping"}"#, .badRequest),
        (#"{"op":"ping""#, .invalidJSON),
        (#"[1,2,3]"#, .invalidJSON),
        (#""#, .invalidJSON),
        (#"null"#, .invalidJSON),
    ])
    func badRequestsGetTypedErrors(text: String, expected: ErrorCode) {
        #expect(code(of: text) == expected, "\(text)")
    }

    @Test func invalidUTF8IsInvalidJSON() {
        do {
            _ = try RequestCodec.decode([0x7B, 0xFF, 0xFE, 0x7D])
            Issue.record("invalid UTF-8 was accepted")
        } catch {
            #expect(error.error.code == .invalidJSON)
        }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let length = Int.random(in: 0..<200, using: &generator)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(throws: RequestDecodingError.self) { try RequestCodec.decode(bytes) }
        }
    }

    @Test func deeplyNestedJSONIsRefusedNotFollowed() {
        let nested = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(code(of: nested) == .invalidJSON)
    }
}
