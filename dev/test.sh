#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test. Arguments go to `swift test`
# (e.g. dev/test.sh --filter StreamingTests). The build is the one dev/switchboard uses.
set -euo pipefail
cd "$(dirname "$0")/.."
dev/setup.sh --tests
set +e
swift build --build-tests 2>&1 | grep -v -e 'unhandled; explicitly declare them' -e '^\[[0-9]*/[0-9]*\] '
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "dev/test.sh: the build failed (above)" >&2; exit 1; }
exec swift test --skip-build --disable-xctest "$@"
