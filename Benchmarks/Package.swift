// swift-tools-version:6.2
import PackageDescription

// The package-benchmark suite (`make bench-micro`), a package of its own so that the root
// package's users never resolve or build ordo-one/benchmark. It reaches the daemon's `package`
// types through `@_spi(Benchmarks) import ConcDaemon` (see ConcDaemon's BenchmarkHooks.swift).
let package = Package(
    name: "ConcdBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "concd", path: ".."),
        // Only the MallocInterposer trait: the default traits would add jemalloc and the ARC
        // runtime interposer, which this machine does not have.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        // The plugin finds suites by their folder; run with `make bench-micro`.
        .executableTarget(
            name: "ConcdBenchmarks",
            dependencies: [
                .product(name: "ConcDaemon", package: "concd"),
                .product(name: "ConcProtocol", package: "concd"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "ConcdBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
