// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
        .library(name: "Switchboard", targets: ["Switchboard"]),
        .library(name: "SwitchboardChannels", targets: ["SwitchboardChannels"]),
        .library(name: "SwitchboardWeb", targets: ["SwitchboardWeb"]),
        .library(name: "SwitchboardStore", targets: ["SwitchboardStore"]),
        .library(name: "SwitchboardConsole", targets: ["SwitchboardConsole"]),
        .library(name: "SwitchboardTesting", targets: ["SwitchboardTesting"]),
        .library(name: "SwitchboardCLI", targets: ["SwitchboardCLI"]),
        .library(name: "SwitchboardClient", targets: ["SwitchboardClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // `swift package generate-documentation` (dev/docs.sh); a plugin, nothing links it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "Switchboard",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "SwitchboardChannels",
            dependencies: [
                "Switchboard",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SwitchboardWeb",
            dependencies: [
                "Switchboard",
                "SwitchboardChannels",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "SwitchboardStore",
            dependencies: [
                "Switchboard",
                "SwitchboardChannels",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "CEditLine",
            linkerSettings: [.linkedLibrary("edit")]
        ),
        .target(
            name: "SwitchboardConsole",
            dependencies: [
                "Switchboard",
                "SwitchboardChannels",
                "CEditLine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SwitchboardTesting",
            dependencies: [
                "Switchboard", "SwitchboardChannels", "SwitchboardWeb", "SwitchboardConsole", "SwitchboardCLI",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SwitchboardClient",
            dependencies: [
                "Switchboard",
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "switchboard",
            dependencies: ["SwitchboardCLI"]
        ),
        .target(
            name: "SwitchboardCLI",
            dependencies: [
                "Switchboard",
                "SwitchboardChannels",
                "SwitchboardWeb",
                "SwitchboardStore",
                "SwitchboardConsole",
                "SwitchboardClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SwitchboardTests",
            dependencies: ["Switchboard", "SwitchboardTesting"]
        ),
        .testTarget(
            name: "SwitchboardChannelsTests",
            dependencies: [
                "Switchboard", "SwitchboardChannels", "SwitchboardTesting",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "SwitchboardWebTests",
            dependencies: [
                "SwitchboardClient",
                "Switchboard", "SwitchboardChannels", "SwitchboardWeb", "SwitchboardStore", "SwitchboardTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Browser/chat_page.py", "Browser/secure_page.py", "Browser/restart_page.py", "Browser/token_page.py", "Metrics/parse_metrics.py"]
        ),
        .testTarget(
            name: "SwitchboardStoreTests",
            dependencies: [
                "Switchboard", "SwitchboardChannels", "SwitchboardStore", "SwitchboardTesting",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SwitchboardConsoleTests",
            dependencies: [
                "Switchboard", "SwitchboardChannels", "SwitchboardWeb", "SwitchboardConsole", "SwitchboardTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["Pty/console_pty.py", "Pty/chat_pty.py"]
        ),
        .testTarget(
            name: "SwitchboardCLITests",
            dependencies: ["switchboard", "Switchboard", "SwitchboardCLI", .product(name: "Logging", package: "swift-log")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The fuzz targets (Tests/Fuzz): one executable whose LLVMFuzzerTestOneInput reaches every
// parser of outside input. Only `dev/fuzz.sh` builds it — it sets SWITCHBOARD_FUZZ=1 and builds
// with `--sanitize=fuzzer --sanitize=address` into `.build-fuzz` (libFuzzer supplies `main`,
// so a normal build could not link it).
if Context.environment["SWITCHBOARD_FUZZ"] == "1" {
    package.targets.append(.executableTarget(
        name: "switchboard-fuzz",
        dependencies: [
            "Switchboard", "SwitchboardChannels", "SwitchboardWeb", "SwitchboardStore", "SwitchboardConsole", "SwitchboardCLI",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Tests/Fuzz/Sources",
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    ))
}
