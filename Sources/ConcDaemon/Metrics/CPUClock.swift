import ConcProtocol
import Glibc

/// Reads CPU time (user + system) of this process and of other processes (the process pool's
/// workers), for ``CPUUsage`` in `status`. Nanosecond clocks where the kernel offers them, since
/// `concctl compare` subtracts readings taken milliseconds apart.
package enum CPUClock {
    /// This process, every thread of it, to the nanosecond (CLOCK_PROCESS_CPUTIME_ID).
    package static func selfSeconds() -> Double {
        var now = timespec()
        if clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now) == 0 { return seconds(now) }
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Another process, every thread of it, from its CPU-time clock (nanoseconds), else from
    /// /proc/PID/stat (clock ticks, 10 ms: too coarse for a short comparison); nil when it is gone.
    package static func seconds(pid: Int32) -> Double? {
        var clock = clockid_t()
        var now = timespec()
        if clock_getcpuclockid(pid, &clock) == 0, clock_gettime(clock, &now) == 0 { return seconds(now) }
        guard let text = ProcFS.read("/proc/\(pid)/stat") else { return nil }
        return parseStat(text)
    }

    /// utime + stime from the text of /proc/PID/stat. The command name (field 2) may hold spaces and
    /// parentheses, so fields are counted from the last ')'.
    package static func parseStat(_ text: String) -> Double? {
        // State is field 3 at offset 0, so utime (14) and stime (15) are at offsets 11 and 12.
        guard let fields = ProcFS.statFields(text), fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return Double(user + system) / Double(ticksPerSecond)
    }

    private static let ticksPerSecond: Int = max(1, sysconf(Int32(_SC_CLK_TCK)))

    private static func seconds(_ value: timespec) -> Double {
        Double(value.tv_sec) + Double(value.tv_nsec) / 1e9
    }

    private static func seconds(_ value: timeval) -> Double {
        Double(value.tv_sec) + Double(value.tv_usec) / 1e6
    }
}
