import ConcWorkerCore
import Glibc

// concd-worker: one warm worker of concd's process pool, started by the daemon as
// `concd-worker --worker-fd N --worker-parent P`. It is a binary of its own, apart from concd, so
// that a worker maps only what running a task needs: no Foundation, NIO or argument parser.
guard let (descriptor, parent) = WorkerLoop.parseArguments(CommandLine.arguments) else {
    let usage = "concd-worker is started by concd's process pool: concd-worker --worker-fd N --worker-parent PID\n"
    _ = usage.withCString { write(2, $0, strlen($0)) }
    exit(64)  // EX_USAGE
}
WorkerLoop.run(descriptor: descriptor, parent: parent)
