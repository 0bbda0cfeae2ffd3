#!/usr/bin/env bash
# Runs the system in system.json (or the file given) after installing what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dev/setup.sh
exec swift run switchboard run "$@"
