/// The CPU-bound workload of the classic comparison: `count += i` for i in 0..<n.
public enum CPULoop {
    /// Returns 0 + 1 + ... + (n-1), one addition at a time.
    ///
    /// The addition is the checked `+`: LLVM folds a loop of wrapping additions (`&+=`) into the
    /// closed form n(n-1)/2, which would make the "CPU-bound" task O(1). The overflow check keeps
    /// every iteration. Callers pass only n up to `ProtocolLimits.maxCPUIterations`, whose sum fits.
    @inline(never)
    public static func sum(upTo n: Int64) -> Int64 {
        var count: Int64 = 0
        var i: Int64 = 0
        while i < n {
            count += i
            i += 1
        }
        return count
    }
}
