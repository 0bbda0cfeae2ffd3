#!/usr/bin/env bash
# The one build dev/switchboard and dev/test.sh share: debug, tests included.
#
# It runs with a fixed environment. Some dependencies' manifests read the environment
# (Hummingbird's `Context.environment`), so SwiftPM rebuilds them whenever the environment
# differs from the previous build's — a changed SHLVL or OLDPWD was enough (measured 16–37 s
# of recompiling HummingbirdCore and what uses it, on every switch between a test run and
# a run). With a fixed environment the second build is a no-op (about a second).
set -euo pipefail
cd "$(dirname "$0")/.."
swift_dir="$(dirname "$(command -v swift)")"
exec env -i HOME="$HOME" PATH="$swift_dir:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 swift build --build-tests "$@"
