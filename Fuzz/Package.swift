// swift-tools-version:6.0
// libFuzzer targets for Axon's readers and the Playground's request bodies. Not part of Axon's package:
// it is built by `Fuzz/run.sh` with the toolchain's `-sanitize=fuzzer,address`.
import PackageDescription

let package = Package(
    name: "AxonFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "Axon", path: "..")],
    targets: [
        .executableTarget(name: "AxonFuzz", dependencies: [
            .product(name: "Axon", package: "Axon"),
            .product(name: "AxonPlayground", package: "Axon"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
