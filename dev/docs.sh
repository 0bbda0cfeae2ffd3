#!/usr/bin/env bash
# The documentation: the DocC catalog (Sources/Switchboard/Switchboard.docc, the guide's
# articles) and the symbol documentation of every library target, combined into one static
# site under .build/docs/site. Warnings are errors (a broken link, an undocumented parameter).
#
#   dev/docs.sh            build it (reuses the debug build's modules; about a minute)
#   then open .build/docs/site/documentation/switchboard/index.html through any static server,
#   e.g. `python3 -m http.server -d .build/docs/site 8000` → http://localhost:8000/documentation/switchboard
set -euo pipefail
cd "$(dirname "$0")/.."
swift_dir="$(dirname "$(command -v swift)")"
mkdir -p .build/docs
rm -rf .build/docs/site
targets=()
for t in Switchboard SwitchboardChannels SwitchboardWeb SwitchboardStore SwitchboardConsole SwitchboardTesting SwitchboardCLI SwitchboardClient; do
    targets+=(--target "$t")
done
log=.build/docs/build.log
# The same fixed environment as dev/build.sh, so that the modules built for the tests are reused.
if ! env -i HOME="$HOME" PATH="$swift_dir:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 \
    swift package --allow-writing-to-directory .build/docs generate-documentation "${targets[@]}" \
    --enable-experimental-combined-documentation --warnings-as-errors \
    --transform-for-static-hosting --output-path .build/docs/site >"$log" 2>&1; then
    grep -E -A6 '^(error|warning): ' "$log" | grep -v "swift-distributed-tracing" | head -80 || true
    echo "dev/docs.sh: the documentation did not build (whole log: $log)" >&2
    exit 1
fi
pages=$(find .build/docs/site/data/documentation -name '*.json' | wc -l)
echo "documentation: $pages pages in .build/docs/site (open documentation/switchboard/index.html through a static server)"
