import ConcProtocol
import Foundation
import Testing

/// Pool names on the wire: the built-in ones keep their strings, and a configured pool's name is
/// carried as it is, for the daemon to resolve.
@Suite struct PoolNameTests {
    @Test(arguments: ["process", "crunch", "a", "gpu-2", "web_fetch", "x0123456789012345678901234567890"])
    func validNames(text: String) {
        #expect(PoolName(rawValue: text)?.rawValue == text)
    }

    @Test(arguments: ["", "Crunch", "9lives", "-x", "_x", "a b", "a.b", "pool!", "é", "x01234567890123456789012345678901"])
    func invalidNames(text: String) {
        #expect(PoolName(rawValue: text) == nil)
    }

    @Test func theBuiltInPoolsAreNamedAfterTheirModels() {
        #expect(PoolName.builtIn.map(\.rawValue) == ["process", "thread", "async"])
        for model in PoolModel.allCases {
            #expect(PoolName.builtIn(model).builtInModel == model)
            #expect(PoolName.builtIn(model).rawValue == model.rawValue)
        }
        #expect(PoolName(rawValue: "crunch")?.builtInModel == nil)
    }

    /// The written-out `init?(rawValue:)`s know every case, and nothing else.
    @Test func kindsAndModelsAreReadFromTheirNamesAlone() {
        for kind in WorkloadKind.allCases { #expect(WorkloadKind(rawValue: kind.rawValue) == kind) }
        for model in PoolModel.allCases { #expect(PoolModel(rawValue: model.rawValue) == model) }
        for text in ["", "Noop", "noop ", "cpus", "processes", "Async", "thread\0"] {
            #expect(WorkloadKind(rawValue: text) == nil && PoolModel(rawValue: text) == nil, "\(text)")
        }
    }

    @Test func aConfiguredPoolsNameTravelsAsItIs() throws {
        let frame = #"{"id":7,"op":"submit","kind":"async","url":"http://127.0.0.1:1/","pool":"crunch"}"#
        let request = try RequestCodec.decode(Array(frame.utf8))
        guard case .submit(let submission) = request.operation else {
            Issue.record("not a submission: \(request)")
            return
        }
        // Only the daemon knows crunch's model, so the client side lets any workload through.
        #expect(submission.pool?.rawValue == "crunch")
        #expect(try RequestCodec.decode(RequestCodec.encode(request)) == request)
        let reply = Reply(id: 7, ok: true, kind: .cpu, pool: PoolName(rawValue: "crunch"), worker: "process-0")
        #expect(try ReplyCodec.decode(ReplyCodec.encode(reply)) == reply)
    }

    @Test func aBuiltInPoolStillRefusesWhatItsModelCannotRun() {
        #expect(throws: WireError.self) { try Submission(workload: .async(url: "http://127.0.0.1:1/"), pool: .thread) }
        let refusal = WorkloadKind.async.refusal(onPool: PoolName(rawValue: "crunch")!, model: .process)
        #expect(refusal?.code == .unsupportedPool)
        #expect(refusal?.message == "async cannot run on the crunch pool (a process pool); it runs on: async")
        #expect(WorkloadKind.cpu.refusal(onPool: .thread, model: .thread) == nil)
    }

    @Test func statusCarriesEachPoolsModelAndReadsOlderDaemons() throws {
        let crunch = PoolStatus(
            kind: PoolName(rawValue: "crunch")!, model: .process, size: 2, busy: 0, idle: 2, queued: 0, queueLimit: 10,
            completed: 0, failed: 0
        )
        let encoded = String(decoding: try JSONEncoder().encode(crunch), as: UTF8.self)
        #expect(encoded.contains(#""kind":"crunch""#) && encoded.contains(#""model":"process""#))
        let older = #"{"kind":"thread","size":4,"busy":0,"idle":4,"queued":0,"queue_limit":10,"completed":0,"failed":0}"#
        let decoded = try JSONDecoder().decode(PoolStatus.self, from: Data(older.utf8))
        #expect(decoded.model == nil && decoded.resolvedModel == .thread)
    }
}
