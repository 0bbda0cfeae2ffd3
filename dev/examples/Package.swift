// swift-tools-version:6.1
// A package that uses Switchboard as a user's package does: by path here (a release would
// name https://github.com/…/switchboard and a version), public API only.
import PackageDescription

let package = Package(
    name: "word-count",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "word-count-server", targets: ["word-count-server"]),
    ],
    dependencies: [
        .package(name: "switchboard", path: "../.."),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // The components, the module and the console command.
        .target(
            name: "WordCount",
            dependencies: [
                .product(name: "Switchboard", package: "switchboard"),
                .product(name: "SwitchboardChannels", package: "switchboard"),
            ]
        ),
        // The server: the built-in types plus ours, and Switchboard's command line.
        .executableTarget(
            name: "word-count-server",
            dependencies: ["WordCount", .product(name: "SwitchboardCLI", package: "switchboard")]
        ),
        .testTarget(
            name: "WordCountTests",
            dependencies: [
                "WordCount",
                .product(name: "SwitchboardTesting", package: "switchboard"),
                .product(name: "SwitchboardCLI", package: "switchboard"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
    ]
)
