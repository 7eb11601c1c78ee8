// The worker's system calls go through ConcSystem's `Syscall`; whoever imports the worker core
// (the daemon's pools) reaches the same wrapper without a second import.
@_exported import ConcSystem
