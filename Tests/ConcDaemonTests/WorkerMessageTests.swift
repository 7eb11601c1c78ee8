import ConcProtocol
import Testing

import ConcDaemon
import ConcWorkerCore

@Suite struct WorkerMessageTests {
    @Test(arguments: [
        Workload.cpu(n: 10_000_000), .sleep(milliseconds: 5), .io(url: "http://127.0.0.1:9/x?y=1"), .noop,
    ])
    func tasksRoundTrip(workload: Workload) {
        let task = WorkerMessage.Task(workload: workload, remainingMilliseconds: 1234)
        #expect(WorkerMessage.decodeTask(WorkerMessage.encode(task)[...]) == task)
    }

    /// The daemon sends tasks encoded in temporary memory; the bytes must be the array encoder's,
    /// also for a URL too long for the stack.
    @Test(arguments: [
        Workload.cpu(n: -3), .sleep(milliseconds: 5), .io(url: "http://127.0.0.1:9/x?y=1"), .noop,
        .io(url: "http://127.0.0.1:9/" + String(repeating: "a", count: 8000)),
    ])
    func tasksEncodedInPlaceMatchTheArrayEncoder(workload: Workload) {
        let task = WorkerMessage.Task(workload: workload, remainingMilliseconds: 77)
        #expect(WorkerMessage.withEncoded(task) { Array($0) } == WorkerMessage.encode(task))
    }

    @Test func repliesRoundTrip() {
        let replies: [WorkerMessage.Reply] = [
            .hello(pid: 4242),
            .result(.success(.integer(-7))),
            .result(.success(.empty)),
            .result(.success(.http(HTTPSummary(status: 503, bytes: 1 << 40, timeMicroseconds: 17)))),
            .result(.failure(WireError(.httpFailed, "GET failed: Couldn't connect"))),
        ]
        for reply in replies {
            #expect(WorkerMessage.decodeReply(WorkerMessage.encode(reply)[...]) == reply)
        }
    }

    /// The worker names its error codes as strings, apart from ConcProtocol; they must be the protocol's.
    @Test func workerErrorCodesAreProtocolCodes() {
        #expect(WorkerFailure.Code.timeout == ErrorCode.timeout.rawValue)
        #expect(WorkerFailure.Code.httpFailed == ErrorCode.httpFailed.rawValue)
        #expect(WorkerFailure.Code.internal == ErrorCode.internal.rawValue)
    }

    @Test func garbageIsNotAMessage() {
        #expect(WorkerMessage.decodeTask([]) == nil)
        #expect(WorkerMessage.decodeTask([0xEE, 1, 2]) == nil)
        #expect(WorkerMessage.decodeReply([0x41, 200, 1]) == nil)
        #expect(WorkerMessage.decodeReply([0x41, 3, 0x61, 0x62, 0x63]) == nil)
        #expect([UInt8]([0x42, 1, 2]).withUnsafeBytes { WorkerMessage.decodeReply($0) } == nil, "a hello too short")
        #expect([UInt8]().withUnsafeBytes { WorkerMessage.decodeReply($0) } == nil)
    }
}
