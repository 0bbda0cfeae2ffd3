#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
dev/setup.sh --tests
exec swift test "$@"
