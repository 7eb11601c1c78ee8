import Foundation

/// The CPU loop compiled from C with `cc -O2`, the yardstick for concd's own loop. An empty asm
/// statement that claims to change `count` keeps the compiler from folding the loop into
/// n(n-1)/2 while adding no instruction to it.
package enum CLoop {
    /// The C source.
    package static let source = """
        #include <stdio.h>
        #include <stdlib.h>
        #include <time.h>
        int main(int argc, char **argv) {
            long long n = atoll(argv[1]), count = 0;
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            for (long long i = 0; i < n; i++) {
                count += i;
                __asm__ volatile("" : "+r"(count));
            }
            clock_gettime(CLOCK_MONOTONIC, &b);
            printf("%lld %lld\\n", count, (long long)((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)));
            return 0;
        }
        """

    /// Compiles the loop into `directory`; the binary's path, or nil with the reason.
    package static func compile(directory: String) -> (String?, String?) {
        let sourcePath = directory + "/loop.c"
        let binaryPath = directory + "/loop"
        do {
            try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
            let compiled = try ChildProcess.output(["cc", "-O2", "-o", binaryPath, sourcePath])
            return compiled.status == 0 ? (binaryPath, nil) : (nil, "cc -O2 failed")
        } catch {
            return (nil, "no C compiler (cc) to measure against: \(error)")
        }
    }

    /// Nanoseconds per iteration of the best of `runs` runs, or nil with the reason.
    package static func nanosecondsPerIteration(binary: String, n: Int64, runs: Int) -> (Double?, String?) {
        var best = UInt64.max
        for _ in 0..<runs {
            switch elapsed(binary: binary, n: n, copies: 1) {
            case .success(let nanoseconds): best = min(best, nanoseconds)
            case .failure(let error): return (nil, error.description)
            }
        }
        return (Double(best) / Double(n), nil)
    }

    /// How much longer `copies` loops take when they run at once than one loop alone: the best of
    /// `runs` interleaved pairs each. This machine's own floor for K loops on K workers: on a
    /// guest whose vCPUs share a physical core, or with busy neighbours, it is above 1.
    package static func scaling(binary: String, n: Int64, copies: Int, runs: Int) -> Double? {
        var single = UInt64.max
        var parallel = UInt64.max
        for _ in 0..<runs {
            guard case .success(let one) = elapsed(binary: binary, n: n, copies: 1),
                case .success(let many) = elapsed(binary: binary, n: n, copies: copies)
            else { return nil }
            single = min(single, one)
            parallel = min(parallel, many)
        }
        return Double(parallel) / Double(single)
    }

    /// The slowest of `copies` loops run at once, by their own clocks.
    private static func elapsed(binary: String, n: Int64, copies: Int) -> Result<UInt64, BenchError> {
        do {
            let runs = try ChildProcess.outputs(Array(repeating: [binary, String(n)], count: copies))
            let expected = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2)
            var slowest: UInt64 = 0
            for run in runs {
                let fields = run.stdout.split(separator: " ")
                guard run.status == 0, fields.count == 2, let sum = Int64(fields[0]), sum == expected,
                    let nanoseconds = UInt64(fields[1].trimmingCharacters(in: .whitespacesAndNewlines))
                else { return .failure(BenchError("the C loop printed '\(run.stdout)'")) }
                slowest = max(slowest, nanoseconds)
            }
            return .success(slowest)
        } catch {
            return .failure(BenchError("cannot run the C loop: \(error)"))
        }
    }
}
