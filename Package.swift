// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Axon",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Axon", targets: ["Axon"]),
        // The Playground (its sessions, JSON API and page) for embedding in another server.
        .library(name: "AxonPlayground", targets: ["AxonPlayground"]),
        .executable(name: "axon", targets: ["AxonCommand"]),
        .executable(name: "axon-tour", targets: ["AxonTour"]),
        .executable(name: "axon-bench", targets: ["AxonBench"]),
        .executable(name: "lenet-example", targets: ["LeNetExample"]),
    ],
    // MPI: distributed data-parallel training on MPI (`swift build -c release --traits MPI`; needs Open MPI's
    // headers and library, Debian's libopenmpi-dev). Off by default: the package builds with nothing installed.
    traits: [.trait(name: "MPI", description: "Distributed training on MPI (Open MPI's libopenmpi-dev)")],
    dependencies: [
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        // `swift package generate-documentation --target Axon` (the DocC catalogue in Sources/Axon/Axon.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
        // ONNX's protobuf messages (the Swift code generated from onnx.proto is committed: scripts/generate-onnx).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
    ],
    targets: [
        // Instruction-set-specific micro-kernels, the worker pool and a few atomics, in C.
        // Everything here is an implementation detail behind AxonCore's backend boundary.
        .target(name: "_AxonKernels"),
        // Tensor, autodiff, ops and the Swift side of the CPU backend.
        .target(
            name: "AxonCore",
            dependencies: [
                "_AxonKernels",
                .product(name: "RealModule", package: "swift-numerics"),
            ]
        ),
        // Modules, layers, losses, initialisers (torch.nn).
        .target(name: "AxonNN", dependencies: ["AxonCore"]),
        // Optimisers, parameter groups, gradient clipping, learning-rate schedules (torch.optim).
        .target(name: "AxonOptim", dependencies: ["AxonCore"]),
        // zlib, for gzip-compressed IDX files (a prerequisite of the Swift toolchain on Linux).
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Datasets, loaders, readers (CSV, IDX), built-in 2-D sets, transforms.
        .target(name: "AxonData", dependencies: ["AxonCore", "_AxonKernels", "CZlib"]),
        // MPI's C API (the MPI trait only), found by pkg-config.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]),
        // Distributed training: the collectives interface, MPI behind it (the MPI trait), DistributedDataParallel.
        .target(name: "AxonDistributed", dependencies: [
            "AxonCore", "AxonNN", "_AxonKernels", .target(name: "CMPI", condition: .when(traits: ["MPI"])),
        ]),
        // Checkpoints: safetensors with atomic writes, model and training state.
        .target(name: "AxonIO", dependencies: ["AxonCore", "AxonNN", "AxonOptim"]),
        // The fit loop, metrics, callbacks, progress, SVG plots.
        .target(name: "AxonTraining", dependencies: ["AxonCore", "AxonNN", "AxonOptim", "AxonData", "AxonIO", "AxonDistributed"]),
        // ONNX: export of Axon models, and ONNX models run with Axon's kernels.
        .target(
            name: "AxonONNX",
            dependencies: ["AxonCore", "AxonNN", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Proto"]
        ),
        // `import Axon` gives the whole public API.
        .target(name: "Axon", dependencies: ["AxonCore", "AxonNN", "AxonOptim", "AxonData", "AxonIO", "AxonTraining", "AxonONNX", "AxonDistributed"]),
        // The Playground: sessions trained by Axon, a JSON API and event stream (Hummingbird), the page embedded.
        .target(
            name: "AxonPlayground",
            dependencies: ["Axon", .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdCore", package: "hummingbird")],
            resources: [.embedInCode("Public/index.html"), .embedInCode("Public/playground.js"), .embedInCode("Public/playground.css")]
        ),
        // The `axon` command: demo, train, eval, predict, summary, playground.
        .executableTarget(name: "AxonCommand", dependencies: [
            "Axon", "AxonPlayground", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "AxonTour", dependencies: ["Axon"]),
        .executableTarget(name: "AxonBench", dependencies: ["Axon"]),
        .executableTarget(name: "LeNetExample", dependencies: ["Axon"]),
        // Shared test helpers: fixture loading and approximate equality.
        .target(name: "AxonTestSupport", dependencies: ["Axon"], path: "Tests/AxonTestSupport"),
        .testTarget(name: "AxonCoreTests", dependencies: ["AxonCore", "_AxonKernels", "AxonTestSupport"]),
        .testTarget(name: "AxonNNTests", dependencies: ["Axon", "AxonTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "AxonOptimTests", dependencies: ["Axon", "AxonTestSupport"]),
        .testTarget(name: "AxonDataTests", dependencies: ["Axon", "AxonTestSupport"]),
        .testTarget(name: "AxonIOTests", dependencies: ["Axon", "AxonIO", "AxonTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "AxonONNXTests", dependencies: ["Axon", "AxonTestSupport"], exclude: ["Models", "onnx_runtime.py"]),
        .testTarget(name: "AxonDistributedTests", dependencies: ["Axon", "AxonTestSupport"]),
        .testTarget(name: "AxonTrainingTests", dependencies: ["Axon", "AxonTestSupport"]),
        .testTarget(name: "AxonPlaygroundTests", dependencies: ["AxonPlayground", "Axon"]),
        // Runs the `axon` binary (built because the tests depend on it).
        .testTarget(name: "AxonCommandTests", dependencies: ["AxonCommand", "Axon", "AxonTestSupport"], exclude: ["Scripts"]),
        // Runs the snippets of Snippets/ (the code the DocC articles show, built with the package) and checks their output.
        .testTarget(name: "SnippetTests", dependencies: ["AxonTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
