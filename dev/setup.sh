#!/usr/bin/env bash
# Installs what building and testing Switchboard needs on a fresh Debian machine, only
# what is missing: libedit-dev (the console), and for the tests Chromium + chromedriver
# + selenium (the browser test of the chat page), pexpect (the console's pty test), prometheus_client (its parser checks /metrics), curl, and the user switchboard-peer (the console's allowUids test). Usage: dev/setup.sh [--tests]
set -euo pipefail
need=()
[ -f /usr/include/histedit.h ] || need+=(libedit-dev)
if [ "${1:-}" = "--tests" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  command -v curl >/dev/null 2>&1 || need+=(curl)
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "dev/setup.sh: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "${1:-}" = "--tests" ]; then
  # A second user for the console's allowUids test (a real peer uid, checked by SO_PEERCRED).
  if ! id switchboard-peer >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo useradd --system --no-create-home --shell /usr/sbin/nologin switchboard-peer
  fi
  for module in selenium pexpect prometheus_client; do
    if ! python3 -c "import $module" 2>/dev/null; then
      echo "dev/setup.sh: installing $module" >&2
      python3 -m pip install -q "$module"
    fi
  done
fi
