// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Axon",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Axon", targets: ["Axon"]),
        .executable(name: "axon-tour", targets: ["AxonTour"]),
        .executable(name: "axon-bench", targets: ["AxonBench"]),
        .executable(name: "lenet-example", targets: ["LeNetExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
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
        // `import Axon` gives the whole public API.
        .target(name: "Axon", dependencies: ["AxonCore", "AxonNN", "AxonOptim"]),
        .executableTarget(name: "AxonTour", dependencies: ["Axon"]),
        .executableTarget(name: "AxonBench", dependencies: ["Axon"]),
        .executableTarget(name: "LeNetExample", dependencies: ["Axon"]),
        // Shared test helpers: fixture loading and approximate equality.
        .target(name: "AxonTestSupport", dependencies: ["Axon"], path: "Tests/AxonTestSupport"),
        .testTarget(name: "AxonCoreTests", dependencies: ["AxonCore", "_AxonKernels", "AxonTestSupport"]),
        .testTarget(name: "AxonNNTests", dependencies: ["Axon", "AxonTestSupport"]),
        .testTarget(name: "AxonOptimTests", dependencies: ["Axon", "AxonTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
