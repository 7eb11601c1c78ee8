import Glibc

/// Process limits the daemon adjusts for itself at start.
package enum ResourceLimits {
    /// Raises the soft limit on open files to the hard limit: every connection, worker channel and
    /// in-flight GET holds a descriptor, and the usual soft limit of 1,024 is far below what the
    /// async pool is for. Returns the limit now in force.
    @discardableResult
    package static func raiseOpenFiles() -> UInt64 {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
