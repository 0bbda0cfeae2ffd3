#!/usr/bin/env bash
# Runs the system in system.json (or the file given) after installing what is missing:
# builds the switchboard binary once, then starts it (no build step between you and Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
exec dev/switchboard run "$@"
