import ConcProtocol
import Testing

@Suite struct WorkloadTests {
    @Test func parsesWhatAPersonTypes() throws {
        #expect(try Workload.parse(kind: .cpu, argument: "10000000") == .cpu(n: 10_000_000))
        #expect(try Workload.parse(kind: .sleep, argument: "250") == .sleep(milliseconds: 250))
        #expect(try Workload.parse(kind: .io, argument: "http://127.0.0.1:8080/x") == .io(url: "http://127.0.0.1:8080/x"))
        #expect(try Workload.parse(kind: .noop, argument: nil) == .noop)
    }

    @Test func theLargestNStillFits() throws {
        #expect(try Workload.parse(kind: .cpu, argument: "4294967296") == .cpu(n: 4_294_967_296))
        // The sum of 0..<n is n/2 * (n-1) for even n: 2^31 * (2^32 - 1) fits, and one more does not.
        let n = ProtocolLimits.maxCPUIterations
        #expect((n / 2).multipliedReportingOverflow(by: n - 1).overflow == false)
        #expect(((n / 2) * (n - 1)).addingReportingOverflow(n).overflow)
        #expect(throws: WireError.self) { try Workload.parse(kind: .cpu, argument: "4294967297") }
    }

    @Test func everyKindHasItsNaturalPoolAmongItsPools() {
        for kind in WorkloadKind.builtIn {
            #expect(kind.naturalPool.map(kind.supportedPools.contains) == true)
        }
        // A call names its pool: no built-in pool runs one.
        #expect(WorkloadKind.call.naturalPool == nil && WorkloadKind.call.supportedPools.isEmpty)
        #expect(WorkloadKind.cpu.naturalPool == .process)
        #expect(WorkloadKind.io.naturalPool == .thread)
        #expect(WorkloadKind.async.naturalPool == .async)
    }

    @Test func runsOnAgreesWithTheSupportedModels() {
        for kind in WorkloadKind.allCases {
            for model in PoolModel.allCases {
                #expect(kind.runs(on: model) == kind.supportedModels.contains(model), "\(kind) on \(model)")
            }
        }
    }
}
