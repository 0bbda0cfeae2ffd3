#!/usr/bin/env bash
# Builds the fuzz targets (Tests/Fuzz) with libFuzzer and AddressSanitizer and runs them.
#
#   dev/fuzz.sh                 every target, 30 s each
#   dev/fuzz.sh TARGET [SECONDS] one target (websocket, message, query, system, console, webhook, http, sse, token, bus)
#   dev/fuzz.sh --replay        every target once over its corpus and regressions, no fuzzing
#
# Each target starts from its seed corpus, Tests/Fuzz/Corpus/TARGET (committed); what a run
# finds that covers new code goes to .build-fuzz/corpus/TARGET (not committed). A crash
# stops the run with the input saved as .build-fuzz/crash-*; add it to
# Tests/Fuzz/Regressions/TARGET and fix the cause (every regression is replayed on each run).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(websocket message query system console webhook http sse token bus)
seconds=30
replay=0
if [ "${1:-}" = "--replay" ]; then replay=1; shift; fi
if [ $# -gt 0 ]; then targets=("$1"); seconds=${2:-$seconds}; fi

# swiftc keeps only the last -sanitize= flag it is given, and SwiftPM passes fuzzer and address
# apart: without the combined flag, Swift code would get no coverage counters at all.
echo "dev/fuzz.sh: building the fuzz targets (sanitizers: fuzzer, address; the first build takes several minutes)" >&2
swift_dir="$(dirname "$(command -v swift)")"
env -i HOME="$HOME" PATH="$swift_dir:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 SWITCHBOARD_FUZZ=1 \
  swift build --scratch-path .build-fuzz --product switchboard-fuzz --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address 2>&1 \
  | grep -v -e 'unhandled; explicitly declare them' -e '^\[[0-9]*/[0-9]*\] ' -e 'ld.gold: warning' -e '^Build of product' || true
binary=.build-fuzz/debug/switchboard-fuzz
[ -x "$binary" ] || { echo "dev/fuzz.sh: the build failed" >&2; exit 1; }

export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
status=0
for t in "${targets[@]}"; do
  corpus=Tests/Fuzz/Corpus/$t
  [ -d "$corpus" ] || { echo "dev/fuzz.sh: no corpus for $t ($corpus)" >&2; exit 2; }
  work=.build-fuzz/corpus/$t
  mkdir -p "$work"
  regressions=()
  [ -d "Tests/Fuzz/Regressions/$t" ] && regressions=(Tests/Fuzz/Regressions/$t/*)
  if [ ${#regressions[@]} -gt 0 ] && ! SWITCHBOARD_FUZZ_TARGET=$t "$binary" "${regressions[@]}" >/dev/null 2>&1; then
    echo "dev/fuzz.sh: $t: a regression input fails again" >&2
    SWITCHBOARD_FUZZ_TARGET=$t "$binary" "${regressions[@]}" 2>&1 | tail -30 >&2
    status=1
    continue
  fi
  if [ "$replay" = 1 ]; then
    SWITCHBOARD_FUZZ_TARGET=$t "$binary" -runs=0 "$corpus" >/dev/null 2>&1 || { echo "dev/fuzz.sh: $t fails on its corpus" >&2; status=1; }
    echo "$t: corpus and regressions pass"
    continue
  fi
  log=.build-fuzz/$t.log
  if SWITCHBOARD_FUZZ_TARGET=$t "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -artifact_prefix=.build-fuzz/ -print_final_stats=1 "$work" "$corpus" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "$t: ${seconds}s, $runs inputs, $cov, no crash"
  else
    echo "dev/fuzz.sh: $t found a failure; the input and the report:" >&2
    grep -E 'ERROR|SUMMARY|Fatal|Test unit written|artifact' "$log" | head -20 >&2
    tail -40 "$log" >&2
    status=1
  fi
done
exit $status
