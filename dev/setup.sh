#!/usr/bin/env bash
# Installs what building and testing Switchboard needs on a fresh Debian machine, only
# what is missing: libedit-dev (the console), and for the tests Chromium + chromedriver + a
# colour-emoji font
# + selenium (the browser test of the chat page), pexpect (the console's pty test), prometheus_client
# (its parser checks /metrics) in a virtual environment under .build/, curl, and the system user
# switchboard-peer (the console's allowUids test). It says what it installs before it does.
# Usage: dev/setup.sh [--tests]
set -euo pipefail
need=()
[ -f /usr/include/histedit.h ] || need+=(libedit-dev)
if [ "${1:-}" = "--tests" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  # A colour-emoji font, so that the browser tests (and their screenshot) show 🙂 as users see it.
  [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
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
    echo "dev/setup.sh: adding the system user switchboard-peer (no home, no shell; the console's allowUids test connects as it)" >&2
    $sudo useradd --system --no-create-home --shell /usr/sbin/nologin switchboard-peer
  fi
  # The tests' Python packages go into a virtual environment of this checkout, not into the
  # machine's Python; dev/test.sh puts it first on PATH for the run.
  venv=.build/python-venv
  if [ ! -x "$venv/bin/python3" ]; then
    echo "dev/setup.sh: creating $venv (Python packages for the tests)" >&2
    mkdir -p .build
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      # Debian's python3 keeps venv (ensurepip) in a package of its own.
      sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
      echo "dev/setup.sh: installing python3-venv" >&2
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$venv"
      python3 -m venv "$venv"
    fi
  fi
  for module in selenium pexpect prometheus_client; do
    if ! "$venv/bin/python3" -c "import $module" 2>/dev/null; then
      echo "dev/setup.sh: installing $module into $venv" >&2
      "$venv/bin/python3" -m pip install -q --disable-pip-version-check "$module"
    fi
  done
fi
