#!/usr/bin/env bash
# Builds switchboard in release mode and installs the binary, like `cargo install --path .`:
# into ~/.local/bin (or $PREFIX/bin). Usage: dev/install.sh [PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
dev/setup.sh
prefix="${1:-${PREFIX:-$HOME/.local}}"
swift build -c release --product switchboard
mkdir -p "$prefix/bin"
install -m 0755 "$(swift build -c release --show-bin-path)/switchboard" "$prefix/bin/switchboard"
echo "installed $prefix/bin/switchboard"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: $prefix/bin is not on your PATH; add it: export PATH=\"$prefix/bin:\$PATH\"" ;; esac
