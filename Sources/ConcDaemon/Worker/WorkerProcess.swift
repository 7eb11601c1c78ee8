import ConcWorkerCore

/// Worker mode of `concd` itself (`concd --worker-fd 3 --worker-parent P`), kept for when
/// `concd-worker` is not installed beside it. The loop is ConcWorkerCore's, the same the small
/// worker binary runs.
public enum WorkerProcess {
    /// Serves tasks on `descriptor`; never returns.
    public static func run(descriptor: Int32, parent: Int32?) -> Never {
        WorkerLoop.run(descriptor: descriptor, parent: parent)
    }
}
