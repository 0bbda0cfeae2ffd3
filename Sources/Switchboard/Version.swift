/// This build's version, as `switchboard --version` and the `switchboard_build_info` metric say.
public let version = "0.4.0-dev"
