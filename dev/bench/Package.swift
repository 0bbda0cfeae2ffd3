// swift-tools-version:6.1
// The benchmarks, a package of their own so that the root package (and anything that
// depends on it) never resolves or builds them. Run from this directory, in release mode:
//   swift run -c release chan-bench | transform-bench | store-bench | reload-bench ../../system.json
//   swift build -c release --product switchboard && swift build -c release --product sse-load && .build/release/sse-load
//   (and --product nio-floor for `sse-load --floor`: SwiftNIO's least per message, beside ours)
import Foundation
import PackageDescription

// A path dependency is named after its directory: whatever the checkout is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let switchboard = root.lastPathComponent.lowercased()

let package = Package(
    name: "switchboard-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: root.path),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
    ],
    targets: [
        .executableTarget(
            name: "chan-bench",
            dependencies: [
                .product(name: "SwitchboardChannels", package: switchboard),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            path: "chan-bench"
        ),
        .executableTarget(
            name: "sse-load",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "sse-load"
        ),
        .executableTarget(
            name: "nio-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "nio-floor"
        ),
        .executableTarget(
            name: "store-bench",
            dependencies: [
                .product(name: "Switchboard", package: switchboard),
                .product(name: "SwitchboardChannels", package: switchboard),
                .product(name: "SwitchboardWeb", package: switchboard),
                .product(name: "SwitchboardStore", package: switchboard),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "store-bench"
        ),
        .executableTarget(
            name: "auth-bench",
            dependencies: [
                .product(name: "Switchboard", package: switchboard),
                .product(name: "SwitchboardWeb", package: switchboard),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            path: "auth-bench"
        ),
        .executableTarget(
            name: "cluster-bench",
            dependencies: [
                .product(name: "Switchboard", package: switchboard),
                .product(name: "SwitchboardChannels", package: switchboard),
                .product(name: "SwitchboardStore", package: switchboard),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "cluster-bench"
        ),
        .executableTarget(
            name: "transform-bench",
            dependencies: [
                .product(name: "Switchboard", package: switchboard),
                .product(name: "SwitchboardChannels", package: switchboard),
            ],
            path: "transform-bench"
        ),
        .executableTarget(
            name: "reload-bench",
            dependencies: [
                .product(name: "Switchboard", package: switchboard),
                .product(name: "SwitchboardCLI", package: switchboard),
            ],
            path: "reload-bench"
        ),
    ]
)
