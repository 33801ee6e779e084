// swift-tools-version:6.0
import PackageDescription

// Numeric targets are optimised for a baseline every current x86-64 server has (x86-64-v3: AVX2,
// FMA), so a binary built on one node runs on every node of a cluster; the hot kernels are also
// built for AVX-512 and chosen at run time (Sources/Kernels/dispatch.c). Elsewhere (arm64) for
// the CPU they are built on. -Wno-psabi: the 16-lane vectors of static inline helpers are
// never passed between separately compiled functions.
#if arch(x86_64)
let nativeC: [CSetting] = [.unsafeFlags(["-O3", "-march=x86-64-v3", "-fno-math-errno", "-Wno-psabi"])]
let nativeSwift: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"])]   // x86-64-v3's features; Swift does not take the level's name
#else
let nativeC: [CSetting] = [.unsafeFlags(["-O3", "-march=native", "-fno-math-errno"])]
let nativeSwift: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-target-cpu", "native"])]
#endif

let package = Package(
    name: "longrope",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "longrope", targets: ["longrope"]),
        .executable(name: "longrope-bench", targets: ["longrope-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        // Already in the build through AsyncHTTPClient's certificates; its SHA-256 hashes model
        // files 2× faster than a hand-written one (longrope-bench digest).
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"6.0.0"),
        // Already in the build through Hummingbird and AsyncHTTPClient; named because our code
        // imports NIOCore, NIOHTTP1 and HTTPTypes itself.
        .package(url: "https://github.com/apple/swift-nio", from: "2.65.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        // Config files (configs/*.toml) are TOML: a real parser, not a hand-kept subset.
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // The scaling model: λ per rotary pair, n̂, m; every baseline; validation.
        .target(name: "RoPE"),
        // Hand-written C kernels (matrix products, attention, dequantisation), the hot ones for
        // each CPU level and chosen at run time.
        .target(name: "Kernels", cSettings: nativeC),
        // GGUF reader (mmap, metadata, tensors) and writer.
        .target(name: "GGUF"),
        // SentencePiece BPE and byte-level BPE tokenizers built from GGUF metadata.
        .target(name: "Tokenizer", dependencies: ["GGUF"]),
        // The CPU transformer and perplexity.
        .target(name: "Evaluator", dependencies: ["GGUF", "RoPE", "Kernels", "Tokenizer", "Seeded"],
                swiftSettings: nativeSwift),
        // SplitMix64, the one seeded generator (search, probes, simulation, fuzz tests).
        .target(name: "Seeded"),
        // The evolutionary search: pure, seeded, no I/O and no clock.
        .target(name: "Search", dependencies: ["Seeded"]),
        // SHA-256 of model and text files.
        .target(name: "Digest", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // SQLite store of searches, candidates, evaluations and baselines.
        .target(name: "Store", dependencies: ["Search", .product(name: "GRDB", package: "GRDB.swift")]),
        // The JSON types the coordinator, the workers and the CLI client exchange.
        .target(name: "Wire", dependencies: ["RoPE", "Search"]),
        // HTTP plumbing shared by the coordinator and workers: JSON errors and responses, the
        // token guard, browser sessions, TLS files.
        .target(name: "HTTPService", dependencies: [
            "Wire",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        // Scoring a unit against one loaded model and text (the in-process evaluator and workers).
        .target(name: "Scoring", dependencies: ["Evaluator", "Wire", "RoPE", "Search"]),
        // Running searches: the step loop, baselines, options, exports, and the dispatcher that
        // leases units to workers (no HTTP server here).
        .target(name: "Runner", dependencies: [
            "Search", "Store", "RoPE", "Wire",
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // A GGUF copy of the model with a search's factors inside (needs the transformer's
        // reading of the model, which Runner does without).
        .target(name: "ModelExport", dependencies: ["Runner", "Evaluator", "GGUF"]),
        // The coordinator daemon: the HTTP API and dashboard over the store, its search loops
        // (Runner) leasing units to the workers that attach.
        .target(name: "Coordinator", dependencies: [
            "Runner", "Search", "Store", "RoPE", "Wire", "HTTPService",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], resources: [.embedInCode("openapi.yaml")]),
        // A worker: one loaded model behind an HTTP endpoint, attached to a coordinator.
        .target(name: "Worker", dependencies: [
            "Evaluator", "Digest", "Wire", "HTTPService", "Scoring",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // Subcommands of the `longrope` executable.
        .target(name: "CLI", dependencies: [
            "RoPE", "GGUF", "Tokenizer", "Evaluator", "Search", "Store", "Coordinator", "Digest", "Wire", "Worker",
            "HTTPService", "Scoring", "Runner", "ModelExport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .executableTarget(name: "longrope", dependencies: ["CLI"]),
        // Simulated workers (sleep + a synthetic fitness) for the cluster benchmark and tests.
        .target(name: "Simulation", dependencies: ["Runner", "Wire", "Search", "Seeded"]),
        .executableTarget(name: "longrope-bench", dependencies: [
            "Evaluator", "GGUF", "Tokenizer", "RoPE", "Kernels", "Coordinator", "Wire", "Store", "Digest", "Search",
            "Simulation", "HTTPService", "Scoring", "Runner", "Seeded", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], swiftSettings: nativeSwift),

        .testTarget(name: "RoPETests", dependencies: ["RoPE"]),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "Kernels", "Seeded", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF", "TestSupport"]),
        .testTarget(name: "EvaluatorTests", dependencies: ["Evaluator", "GGUF", "Tokenizer", "RoPE", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["CLI", "Wire", "Store", "TestSupport"]),
        .testTarget(name: "SearchTests", dependencies: ["Search", "Seeded"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Search", "Digest", "TestSupport"]),
        .testTarget(name: "CoordinatorTests", dependencies: [
            "Coordinator", "Store", "Search", "Evaluator", "RoPE", "GGUF", "Wire", "Simulation", "HTTPService", "Scoring",
            "Runner", "TestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .testTarget(name: "DigestTests", dependencies: ["Digest", "TestSupport"]),
        .testTarget(name: "WireTests", dependencies: ["Wire", "Search"]),
        .testTarget(name: "RunnerTests", dependencies: [
            "Runner", "ModelExport", "Store", "Search", "Evaluator", "RoPE", "GGUF", "Wire", "Simulation", "Scoring", "Seeded", "TestSupport",
        ]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
    ]
)
