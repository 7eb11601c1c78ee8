// A worker program in Swift for a pool of concd's (docs/worker-protocol.md): the seed article's
// cpu_bound_task, as examples/python/seed_worker.py offers it in Python. In concd.yaml:
//
//     pools:
//       seed-swift:
//         model: process
//         command: ["/path/to/seed-worker-swift"]    # built beside concd (swift build)
//
// then: concctl submit seed-swift cpu_bound_task '{"number": 1000000}'
import ConcWorker

/// The seed's `sum(i * i for i in range(number))`, with overflow reported rather than wrapped.
struct Overflow: Error, CustomStringConvertible {
    var number: Int
    var description: String { "the sum of squares below \(number) does not fit a 64-bit integer" }
}

struct Arguments: Decodable {
    var number: Int
}

ConcWorker.run([
    "cpu_bound_task": .typed { (arguments: Arguments) in
        var total = 0
        for i in 0..<max(0, arguments.number) {
            let (square, o1) = i.multipliedReportingOverflow(by: i)
            let (sum, o2) = total.addingReportingOverflow(square)
            if o1 || o2 { throw Overflow(number: arguments.number) }
            total = sum
        }
        return total
    },
    "echo": .init { $0 },
])
