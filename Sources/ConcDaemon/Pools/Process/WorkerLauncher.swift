import CConcShims
import ConcProtocol
import ConcWorkerCore
import Glibc
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Spawns worker processes on one long-lived thread of its own and puts each worker's socket on
/// an event loop as a NIO channel.
///
/// `posix_spawn` blocks, so it never runs on an event loop. The thread lives as long as the pool:
/// a worker asks for SIGKILL when the thread that spawned it exits (PR_SET_PDEATHSIG follows the
/// thread, not the process).
final class WorkerLauncher: Sendable {
    private let thread = NIOThreadPool(numberOfThreads: 1)
    private let program: WorkerProgram
    private let pool: String
    private let limiter: MemoryLimiter?
    private let logger: Logger

    init(program: WorkerProgram, pool: String, limiter: MemoryLimiter? = nil, logger: Logger) {
        self.program = program
        self.pool = pool
        self.limiter = limiter
        self.logger = logger
        thread.start()
    }

    /// Spawns a worker on the launcher's thread and registers its channel on `loop`. `adopt` runs
    /// on the loop inside the channel's initializer, before the channel can read the worker's
    /// greeting, and returns the handler that reads it; `failed` gets a sentence when no worker
    /// could be started or watched.
    func launch(
        worker: String,
        on loop: any EventLoop,
        adopt: @escaping @Sendable (_ pid: Int32, WorkerConnection) -> any ChannelHandler,
        failed: @escaping @Sendable (String) -> Void
    ) {
        thread.submit { [program, pool, limiter, logger] _ in
            _ = concd_set_thread_name("concd-spawner")
            do throws(WorkerSpawner.Failure) {
                try Self.launch(program, pool: pool, worker: worker, on: loop, limiter: limiter, logger: logger, adopt: adopt)
            } catch {
                failed(error.description)
            }
        }
    }

    /// Stops the thread once the pool has no more workers to spawn.
    func shutdown() async {
        try? await thread.shutdownGracefully()
    }

    private static func launch(
        _ program: WorkerProgram, pool: String, worker: String, on loop: any EventLoop, limiter: MemoryLimiter?, logger: Logger,
        adopt: @escaping @Sendable (_ pid: Int32, WorkerConnection) -> any ChannelHandler
    ) throws(WorkerSpawner.Failure) {
        let executable = program.description
        let spawned = try WorkerSpawner.spawn(program, pool: pool, worker: worker)
        // Before its channel exists, so before it can greet and be given a task.
        limiter?.apply(pid: spawned.pid, worker: worker)
        let output = spawned.output.map { _ in WorkerOutput() }
        if let descriptors = spawned.output, let output {
            for (descriptor, stream) in [(descriptors.stdout, "stdout"), (descriptors.stderr, "stderr")] {
                // If the pipe cannot be watched the worker would block on a full one: it is closed
                // instead, and the worker's prints fail rather than stall it.
                _ = try? NIOPipeBootstrap(group: loop)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandlers(
                                ByteToMessageHandler(OutputLineDecoder()),
                                WorkerOutputHandler(logger: logger, output: output, pool: pool, worker: worker, pid: spawned.pid, stream: stream)
                            )
                        }
                    }
                    .takingOwnershipOfDescriptor(input: descriptor)
                    .wait()
            }
        }
        // A user's program writes lines on a stream: they are cut by a decoder, and read in
        // buffers that grow with them. concd's own worker sends datagrams of a known bound.
        let lines = program.isCommand
        let allocator: any RecvByteBufferAllocator =
            lines
            ? AdaptiveRecvByteBufferAllocator()
            : FixedSizeRecvByteBufferAllocator(capacity: WorkerMessage.maxBytes)
        let readSide = fcntl(spawned.socket, F_DUPFD_CLOEXEC, 0)
        guard readSide >= 0 else {
            let reason = Syscall.errnoDescription
            end(spawned)
            throw WorkerSpawner.Failure(description: "cannot watch worker \(executable) (pid \(spawned.pid)): \(reason)")
        }
        let adopted = Atomic(false)
        do {
            _ = try NIOPipeBootstrap(group: loop)
                .channelOption(ChannelOptions.recvAllocator, value: allocator)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let connection = WorkerConnection(socket: WorkerSocket(spawned.socket), channel: channel, output: output)
                        if lines {
                            // The control socket's framing handler: `ByteToMessageHandler`'s generic
                            // path cost about 3 000 instructions a line.
                            try channel.pipeline.syncOperations.addHandler(
                                LineFrameHandler(maxFrameBytes: ProtocolLimits.maxWorkerReplyBytes)
                            )
                        }
                        try channel.pipeline.syncOperations.addHandler(adopt(spawned.pid, connection))
                        adopted.store(true, ordering: .relaxed)
                    }
                }
                .takingOwnershipOfDescriptor(input: readSide)
                .wait()
        } catch {
            // Once adopted, the pool owns the worker and its greeting timeout will stop it.
            guard !adopted.load(ordering: .relaxed) else { return }
            Glibc.close(readSide)
            end(spawned)
            throw WorkerSpawner.Failure(description: "cannot watch worker \(executable) (pid \(spawned.pid)): \(error)")
        }
    }

    /// Ends a worker that never joined the pool; blocking, so only for the launcher's thread.
    private static func end(_ spawned: SpawnedWorker) {
        Glibc.kill(-spawned.pid, SIGKILL)
        Glibc.close(spawned.socket)
        var status: Int32 = 0
        _ = Syscall.retryingEINTR { waitpid(spawned.pid, &status, 0) }
    }
}
