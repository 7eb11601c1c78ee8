import ConcProtocol
import Foundation
import Testing

/// Calls and a user worker's lines: the fast readers take the common shapes without Foundation and
/// agree with it; JSON that is not JSON is refused by both.
@Suite struct CallCodecTests {
    private func decode(_ text: String) throws -> Request {
        try RequestCodec.decode(Array(text.utf8))
    }

    private func call(_ request: Request) -> (function: String, arguments: String)? {
        guard case .submit(let submission) = request.operation, case .call(let function, let arguments) = submission.workload else {
            return nil
        }
        return (function, arguments.text)
    }

    @Test(arguments: [
        #"null"#, #"42"#, #"-1.5e+3"#, #""a \"quoted\" \\ \u00e9 string""#, #"[1,[2,[3,{}]],"x"]"#,
        #"{"path":"a.png","width":320,"crop":{"x":0,"y":0},"tags":["a","b"],"ok":true,"none":null}"#, #""héllo wörld""#,
    ])
    func argumentsOfAnyShapeAreKeptAsTheyCame(arguments: String) throws {
        let request = try decode(#"{"v":1,"id":3,"op":"submit","pool":"thumbs","fn":"resize","args":\#(arguments)}"#)
        let parsed = try #require(call(request))
        #expect(parsed.function == "resize" && parsed.arguments == arguments)
        // Foundation reads the same value (a repeated key sends the frame its way).
        let viaFoundation = try #require(JSONText(parsing: arguments))
        let reparsed = try JSONSerialization.jsonObject(with: Data(parsed.arguments.utf8), options: .fragmentsAllowed)
        let expected = try JSONSerialization.jsonObject(with: Data(viaFoundation.text.utf8), options: .fragmentsAllowed)
        #expect(NSDictionary(dictionary: ["v": reparsed]).isEqual(to: ["v": expected]))
    }

    @Test(arguments: [#"{"a":}"#, #"01"#, #"1."#, #""\x""#, "\"tab\there\"", #"{"a" 1}"#, #"tru"#, #"[[[[1]]"#])
    func argumentsThatAreNotJSONAreRefused(arguments: String) {
        #expect(throws: RequestDecodingError.self) {
            try decode(#"{"v":1,"id":3,"op":"submit","pool":"thumbs","fn":"resize","args":\#(arguments)}"#)
        }
    }

    @Test func aCallWithoutArgumentsHasNull() throws {
        let parsed = try #require(call(try decode(#"{"v":1,"op":"submit","pool":"thumbs","fn":"ping"}"#)))
        #expect(parsed.arguments == "null")
    }

    @Test func aCallRoundTripsThroughTheEncoder() throws {
        let submission = try Submission(
            workload: .call(function: "resize", arguments: try #require(JSONText(parsing: #"{"path": "a.png"}"#))),
            pool: PoolName(rawValue: "thumbs")
        )
        let request = Request(id: 9, operation: .submit(submission))
        #expect(try RequestCodec.decode(RequestCodec.encode(request)) == request)
    }

    @Test func aCallNeedsAPoolThatIsNotBuiltIn() {
        #expect(throws: RequestDecodingError.self) { try decode(#"{"v":1,"op":"submit","fn":"resize"}"#) }
        #expect(throws: RequestDecodingError.self) { try decode(#"{"v":1,"op":"submit","pool":"process","fn":"resize"}"#) }
    }

    @Test func aWorkersResultLineIsReadWithItsValueAsItCame() {
        let line = Array(#"{"id":17,"ok":true,"result":{"path": "a-320.png", "n": [1, 2.5]}}"#.utf8)
        guard case .success(.result(17, .success(let value))) = UserWorkerProtocol.decode(line) else {
            Issue.record("not read as a result")
            return
        }
        #expect(value.text == #"{"path": "a-320.png", "n": [1, 2.5]}"#)
    }

    @Test func aWorkersErrorCarriesItsTypeAndTraceback() {
        let line = Array(#"{"id":2,"ok":false,"error":{"type":"ValueError","message":"boom","traceback":"Traceback\n  line 1\n"}}"#.utf8)
        guard case .success(.result(2, .failure(let error))) = UserWorkerProtocol.decode(line) else {
            Issue.record("not read as a failure")
            return
        }
        #expect(error.code == .taskFailed && error.message == "ValueError: boom")
        #expect(error.type == "ValueError" && error.traceback == "Traceback\n  line 1\n")
    }

    @Test(arguments: ["not json", #"{"id":1}"#, #"{"ready":true}"#, #"[1,2]"#, #"{"id":1,"ok":true,"result":}"#])
    func aLineThatBreaksTheProtocolIsAFailureWithASentence(line: String) {
        guard case .failure(let failure) = UserWorkerProtocol.decode(Array(line.utf8)) else {
            Issue.record("'\(line)' was read")
            return
        }
        #expect(!failure.reason.isEmpty)
    }

    @Test func theReadyLineNamesItsProtocol() {
        #expect(UserWorkerProtocol.decode(Array(#"{"ready":true,"protocol":1,"functions":["a"],"pid":7}"#.utf8)) == .success(.ready(version: 1, functions: ["a"])))
    }

    @Test func aTaskLineIsOneJSONObjectEndedByANewline() throws {
        let line = UserWorkerProtocol.encodeTask(
            id: 5, function: "resize", arguments: try #require(JSONText(parsing: #"{"a":"x\ny"}"#)), timeoutMilliseconds: 250
        )
        #expect(line.last == 10 && line.dropLast().allSatisfy { $0 != 10 })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.dropLast())) as? [String: Any])
        #expect(object["id"] as? Int == 5 && object["fn"] as? String == "resize" && object["timeout_ms"] as? Int == 250)
        #expect((object["args"] as? [String: Any])?["a"] as? String == "x\ny")
    }

    @Test func aTaskEncodedInPlaceIsTheSameLine() throws {
        let arguments = [JSONText.null, try #require(JSONText(parsing: #"{"a":"x\ny","b":[1,2.5,"é"]}"#))]
        for function in ["f", "résumé", "quote\"back\\slash", String(repeating: "n", count: 128)] {
            for argument in arguments {
                for timeout in [nil, Int64(1), Int64.max, Int64.min] {
                    let line = UserWorkerProtocol.encodeTask(id: .max, function: function, arguments: argument, timeoutMilliseconds: timeout)
                    var inPlace: [UInt8] = []
                    let sent = UserWorkerProtocol.withEncodedTask(
                        id: .max, function: function, arguments: argument, timeoutMilliseconds: timeout
                    ) { bytes in
                        inPlace = Array(bytes)
                        return true
                    }
                    #expect(sent && inPlace == line, "\(function) \(argument) \(String(describing: timeout))")
                }
            }
        }
    }
}
