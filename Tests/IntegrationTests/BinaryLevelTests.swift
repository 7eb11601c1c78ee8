import Testing

/// Every test that drives the built binaries. They block their thread while they wait on a child
/// process, so they run one at a time: run side by side, they would hold every thread of Swift's
/// small cooperative pool and starve the in-process tests running beside them.
@Suite(.serialized) struct BinaryLevelTests {}
