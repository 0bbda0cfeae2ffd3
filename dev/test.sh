#!/usr/bin/env bash
# Installs what is missing, then builds (dev/build.sh, the build dev/switchboard shares) and
# runs every test. Arguments go to the test runner (e.g. dev/test.sh --filter StreamingTests).
# A private PostgreSQL server (dev/postgres.sh) runs for the tests that need one and is stopped
# afterwards; `--no-postgres` (first argument) leaves it out for a quick local run, and the
# tests that need it then fail. CI never passes it.
#
# The tests run from the built test binary, as `swift test` would run them, but without
# SwiftPM: `swift test` re-plans in the caller's environment, and a changed environment makes
# the next build recompile some dependencies (see dev/build.sh).
# Usage: dev/test.sh [--sanitize thread|address] [--no-postgres] [--filter NAME …]
set -euo pipefail
cd "$(dirname "$0")/.."
# `--sanitize thread` (or address): the same run under a sanitizer, built apart in
# .build-SANITIZER (a full build of its own; ThreadSanitizer runs the tests several times slower).
build_args=()
scratch=.build
if [ "${1:-}" = "--sanitize" ]; then
  build_args=(--sanitize="$2" --scratch-path ".build-$2")
  scratch=".build-$2"
  shift 2
  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0 second_deadlock_stack=1}"
fi
dev/setup.sh --tests
# The tests' Python (pexpect, selenium, prometheus_client) is the checkout's virtual environment.
export PATH="$PWD/.build/python-venv/bin:$PATH"
set +e
dev/build.sh "${build_args[@]}" 2>&1 | grep -v -e 'unhandled; explicitly declare them' -e '^\[[0-9]*/[0-9]*\] '  -e 'CMakeLists.txt$'
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "dev/test.sh: the build failed (above)" >&2; exit 1; }
# Plain symbols when the output is a log rather than a terminal.
[ -t 1 ] || export NO_COLOR=1
if [ "${1:-}" = "--no-postgres" ]; then
  shift
else
  pg=$(mktemp -d /tmp/switchboard-test-pg.XXXXXX)
  trap 'dev/postgres.sh stop "$pg"; rm -rf "$pg"' EXIT
  SWITCHBOARD_TEST_POSTGRES_URL=$(SWITCHBOARD_PG_FAST=1 dev/postgres.sh start "$pg")
  export SWITCHBOARD_TEST_POSTGRES_URL
fi
# A passing run prints a line per suite and the totals; a failing one also each issue and its
# details. Every line, the passing tests' too, is kept in .build/test-output.log.
#
# A run that hangs is stopped: a full run takes a minute or two, so after
# SWITCHBOARD_TEST_TIME_LIMIT seconds (default 900) the runner is killed and the tests that had
# started and not ended are named, rather than CI waiting out its own limit with nothing said.
limit="${SWITCHBOARD_TEST_TIME_LIMIT:-900}"
set +e
timeout --signal=KILL "$limit" "$scratch"/debug/switchboardPackageTests.xctest --testing-library swift-testing "$@" 2>&1 \
  | tee "$scratch/test-output.log" \
  | grep --line-buffered -v -P '^(\x1b\[[0-9;]*m)?(◇|✔(\x1b\[[0-9;]*m)? Test (?!run with)|↳(\x1b\[[0-9;]*m)? (Testing Library Version|Target Platform))'
status=${PIPESTATUS[0]}
set -e
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
  echo "dev/test.sh: the tests were still running after ${limit} s and were stopped; these had started and not ended:" >&2
  dev/test-log.py unfinished "$scratch/test-output.log" >&2
fi
# A run with a few failures runs those tests once more, on their own: a test that fails in a
# loaded parallel run of 400 (browser pages, cluster timing) and passes alone is named as flaky,
# loudly, and does not fail the run; one that fails again does. More than five failures are
# never re-run (that is a broken change, not a flake).
if [ "$status" = 1 ]; then
  failed=$(dev/test-log.py failed "$scratch/test-output.log")
  if [ -n "$failed" ]; then
    echo "dev/test.sh: running the failed tests again on their own: $failed" >&2
    set +e
    timeout --signal=KILL "$limit" "$scratch"/debug/switchboardPackageTests.xctest --testing-library swift-testing --filter "$failed" 2>&1 \
      | tee "$scratch/test-rerun.log" \
      | grep --line-buffered -E '✘|Test run with'
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" = 0 ]; then
      echo "dev/test.sh: FLAKY — failed in the full run and passed on their own: $failed (the full run's log: $scratch/test-output.log)" >&2
    fi
  fi
fi
exit "$status"
