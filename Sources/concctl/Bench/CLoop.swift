import Foundation

/// The CPU loop compiled from C with `cc -O2`, the yardstick for concd's own loop. An empty asm
/// statement that claims to change `count` keeps the compiler from folding the loop into
/// n(n-1)/2 while adding no instruction to it.
enum CLoop {
    static let source = """
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

    /// Nanoseconds per iteration of the best of `runs` runs, or nil (with the reason) when no C compiler is here.
    static func nanosecondsPerIteration(n: Int64, runs: Int, directory: String) -> (Double?, String?) {
        let sourcePath = directory + "/loop.c"
        let binaryPath = directory + "/loop"
        do {
            try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
            let compiled = try Spawned.output(["cc", "-O2", "-o", binaryPath, sourcePath])
            guard compiled.status == 0 else { return (nil, "cc -O2 failed") }
            var best = UInt64.max
            for _ in 0..<runs {
                let run = try Spawned.output([binaryPath, String(n)])
                let fields = run.stdout.split(separator: " ")
                let expected = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2)
                guard fields.count == 2, let sum = Int64(fields[0]), sum == expected,
                    let nanoseconds = UInt64(fields[1].trimmingCharacters(in: .whitespacesAndNewlines))
                else { return (nil, "the C loop printed '\(run.stdout)'") }
                best = min(best, nanoseconds)
            }
            return (Double(best) / Double(n), nil)
        } catch {
            return (nil, "no C compiler (cc) to measure against: \(error)")
        }
    }
}
