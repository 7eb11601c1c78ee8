#ifndef CONCD_CCONCSHIMS_H
#define CONCD_CCONCSHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <malloc.h>
#include <spawn.h>

/// Outcome of one blocking HTTP GET.
typedef struct concd_http_result {
    /// 0 on success; otherwise libcurl's CURLcode.
    int curl_code;
    /// The HTTP status code, or 0 when no response arrived.
    long status;
    /// Bytes of body received.
    uint64_t body_bytes;
    /// Total time of the transfer in microseconds.
    uint64_t total_us;
    /// A sentence describing the failure when curl_code != 0.
    char error[256];
} concd_http_result;

/// Loads and initialises libcurl once per process (later calls wait for the first and return
/// its result): 0, or -1 when libcurl could not be loaded. concd_http_get calls it itself.
int concd_curl_global_init(void);

/// Performs one blocking HTTP(S) GET of `url`, discarding the body, with a whole-transfer
/// timeout. Reuses one easy handle per calling thread so keep-alive connections survive.
void concd_http_get(const char *url, long timeout_ms, concd_http_result *result);

/// Makes a posix_spawn child start in `path` (glibc's posix_spawn_file_actions_addchdir_np, which
/// Swift's Glibc module hides without _GNU_SOURCE); 0 or an errno value.
int concd_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// Asks the kernel to send `signal` to the calling process when its parent exits
/// (prctl PR_SET_PDEATHSIG, which is variadic in C). Returns 0 or -1 with errno set.
int concd_set_parent_death_signal(int signal);

/// Names the calling thread as top, ps -L and /proc/PID/task/*/comm show it (prctl PR_SET_NAME,
/// variadic in C); the kernel keeps the first 15 bytes. Returns 0 or -1 with errno set.
int concd_set_thread_name(const char *name);

/// pipe2 with O_CLOEXEC (which glibc declares only under _GNU_SOURCE): neither end leaks into a
/// child another thread spawns meanwhile.
int concd_pipe_cloexec(int descriptors[2]);

/// accept4 with SOCK_NONBLOCK and SOCK_CLOEXEC (glibc declares accept4 only under _GNU_SOURCE),
/// not asking for the peer's address: the accepted descriptor, or -1 with errno.
int concd_accept_nonblocking(int listening);

/// A descriptor that polls readable when child `pid` has ended (pidfd_open, Linux 5.3), or -1 with errno.
int concd_pidfd_open(pid_t pid);

/// Sets another process's RLIMIT_DATA (soft and hard) to `bytes` (prlimit, which Swift's Glibc
/// module does not export); 0, or -1 with errno.
int concd_limit_data(pid_t pid, unsigned long long bytes);

/// The number of CPUs this process may run on (sched_getaffinity, which needs _GNU_SOURCE),
/// or the number online when that fails.
int concd_available_cores(void);

/// The peer credentials SO_PEERCRED returns: `struct ucred`, which the C library declares only
/// under _GNU_SOURCE, so Swift cannot see it. process.c checks the two layouts agree.
typedef struct concd_ucred {
    int32_t pid;
    uint32_t uid;
    uint32_t gid;
} concd_ucred;

#endif
