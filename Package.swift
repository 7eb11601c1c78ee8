// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "concd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "concd", targets: ["concd"]),
        .executable(name: "concd-worker", targets: ["concd-worker"]),
        .executable(name: "concctl", targets: ["concctl"]),
        .library(name: "ConcProtocol", targets: ["ConcProtocol"]),
        .library(name: "ConcClient", targets: ["ConcClient"]),
        // The worker side of the worker protocol, for a Swift program that a pool runs (pools.NAME.command).
        .library(name: "ConcWorker", targets: ["ConcWorker"]),
        .executable(name: "seed-worker-swift", targets: ["seed-worker-swift"]),
        // For the benchmark package in Benchmarks/: the daemon as a library. Its public API is what
        // `concd` needs (Daemon, the configuration, the journal); the rest is `package`, and the
        // suite's hooks are behind `@_spi(Benchmarks)`.
        .library(name: "ConcDaemon", targets: ["ConcDaemon"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["YAML"]),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // libcurl is loaded with dlopen at the first GET (see curl.c), so it is not linked;
        // its headers (libcurl4-openssl-dev) are still needed to build.
        .target(name: "CConcShims"),
        // One of each piece of system plumbing: posix_spawn set-up, wait-status decoding,
        // sockaddr_un filling, EINTR retries. Glibc and swift-system's Errno only, so the worker can use it.
        .target(name: "ConcSystem", dependencies: ["CConcShims", .product(name: "SystemPackage", package: "swift-system")]),
        // What a process worker runs: the worker channel's codec, the blocking workloads and the
        // worker loop. Glibc, CConcShims and ConcSystem only, so that concd-worker links neither Foundation nor NIO.
        .target(name: "ConcWorkerCore", dependencies: ["CConcShims", "ConcSystem"]),
        .executableTarget(name: "concd-worker", dependencies: ["ConcWorkerCore"]),
        .target(
            name: "ConcProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "ConcClient",
            dependencies: [
                "ConcProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(name: "ConcWorker", dependencies: ["ConcProtocol"]),
        // An example worker program in Swift (the seed's cpu_bound_task), which the tests run as a pool.
        .executableTarget(name: "seed-worker-swift", dependencies: ["ConcWorker"]),
        // The fleet: durable jobs in PostgreSQL, claimed, leased and fenced by each host (docs/fleet.md).
        // It knows no pool: the daemon hands it a way to run a submission and to read free capacity.
        .target(
            name: "ConcFleet",
            dependencies: [
                "ConcProtocol",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "ConcDaemon",
            dependencies: [
                "ConcFleet",
                "ConcProtocol",
                "ConcWorkerCore",
                "ConcSystem",
                "CSystemd",
                "CConcShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "concd",
            dependencies: [
                "ConcDaemon",
                "ConcProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The measurement harness behind `concctl bench` and `bench-load`: the private daemon,
        // the echo floor, the C loop, raw connections. The integration tests start concd with it too.
        .target(
            name: "ConcBench",
            dependencies: ["ConcClient", "ConcProtocol", "ConcSystem"]
        ),
        .executableTarget(
            name: "concctl",
            dependencies: [
                "ConcBench",
                "ConcClient",
                "ConcProtocol",
                "ConcSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "LoopbackHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "loopback-http",
            dependencies: ["LoopbackHTTP"]
        ),
        .testTarget(
            name: "ConcProtocolTests",
            dependencies: ["ConcProtocol", .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(name: "ConcSystemTests", dependencies: ["ConcSystem"]),
        .testTarget(
            name: "ConcDaemonTests",
            dependencies: [
                "ConcDaemon", "ConcFleet", "ConcWorkerCore", "ConcSystem", "ConcClient", "LoopbackHTTP",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "FleetTests",
            dependencies: [
                "ConcFleet", "ConcProtocol", "ConcSystem",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["ConcBench", "ConcClient", "ConcProtocol", "ConcSystem", "LoopbackHTTP"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
