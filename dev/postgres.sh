#!/usr/bin/env bash
# A private PostgreSQL server for tests, the cluster demo and benches: its own data
# directory and port on 127.0.0.1, run as the postgres user (PostgreSQL refuses root).
#
#   dev/postgres.sh start DIR [PORT]   initdb DIR if new, start on PORT (default: a free one),
#                                      print the URL (postgres://postgres:switchboard@127.0.0.1:PORT/postgres)
#   dev/postgres.sh stop DIR           stop it (fast: open connections are cut)
#   dev/postgres.sh url DIR            print the URL of the server in DIR
#
# Installs Debian's postgresql if it is missing. SWITCHBOARD_PG_FAST=1 turns fsync off (tests).
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,10p' "$0" >&2; exit 2; }
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"

bin=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && bin=$d; done
if [ -z "$bin" ]; then
  echo "dev/postgres.sh: installing postgresql" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && bin=$d; done
fi

# Runs a PostgreSQL program as the postgres user when we are root, as ourselves otherwise.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_ctl start, with nothing of ours open but /dev/null.
as_pg_ctl() { as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start </dev/null >/dev/null 2>&1; }

url() { echo "postgres://postgres:switchboard@127.0.0.1:$(cat "$dir/port")/postgres"; }

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir" && chmod 0700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    pw=$(mktemp); echo switchboard >"$pw"; chmod 0644 "$pw"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-instructions >/dev/null
    rm -f "$pw"
  fi
  port=${3:-$( [ -f "$dir/port" ] && cat "$dir/port" || python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
  echo "$port" >"$dir/port"
  opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=400"
  [ "${SWITCHBOARD_PG_FAST:-0}" = 1 ] && opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  # The server must hold none of our caller's descriptors: a caller that waits for their end
  # (a pipe, or Foundation's Process watching for its child's exit) would wait for the server.
  if ! (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then eval "exec $fd>&-"; fi
    done
    as_pg_ctl
  ) 2>/dev/null; then
    echo "dev/postgres.sh: the server did not start; its log:" >&2
    tail -20 "$dir/server.log" >&2
    exit 1
  fi
  url
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  true
  ;;
url) url ;;
*) echo "dev/postgres.sh: unknown command $cmd (start, stop, url)" >&2; exit 2 ;;
esac
