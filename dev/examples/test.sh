#!/usr/bin/env bash
# Builds the example package (a user's package: Switchboard by path, public API only) and runs
# its tests. Its own .build: the first build compiles Switchboard and its dependencies again.
set -euo pipefail
cd "$(dirname "$0")"
export NO_COLOR=1
set +e
swift build --build-tests 2>&1 | grep -v -e 'unhandled; explicitly declare them' -e '^\[[0-9]*/[0-9]*\] ' -e 'CMakeLists.txt$'
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "dev/examples: the build failed (above)" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! swift test --skip-build >"$log" 2>&1; then
  grep -E "✘|error" "$log" | head -40
  echo "dev/examples: the tests failed" >&2
  exit 1
fi
grep -E "Test run with" "$log" | sed "s|^|dev/examples: |"
