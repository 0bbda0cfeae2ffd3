#!/usr/bin/env bash
# The chat on three instances sharing one PostgreSQL, behind nginx:
#   PostgreSQL (dev/postgres.sh, data in data/cluster-pg, a free port),
#   dev/systems/cluster.json as node-1..node-3 on BASE+1..BASE+3 (ops on BASE+11..BASE+13),
#   nginx (Debian's nginx-light) on BASE, round-robin, SSE- and WebSocket-friendly;
#   BASE is 4200 unless --port says otherwise, so it runs beside the default system's 8080/9090.
# Open the URL it prints twice: the two pages land on different instances and show the same
# chat. Attach a console to one instance with
#   dev/switchboard console --socket data/cluster/node-1.sock   (then: cluster, status, put! bus …)
# Ctrl-C stops everything. Usage: dev/cluster.sh [--port BASE] [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=$root/data/cluster
mkdir -p "$state"

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "dev/cluster.sh: installing nginx-light" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light >/dev/null
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

base=4200
release=no
while [ $# -gt 0 ]; do
  case "$1" in
    --port) base="${2:?--port takes a number}"; shift 2 ;;
    --release) release=yes; shift ;;
    *) echo "usage: dev/cluster.sh [--port BASE] [--release]" >&2; exit 2 ;;
  esac
done
case "$base" in ''|*[!0-9]*) echo "dev/cluster.sh: --port takes a number, not $base" >&2; exit 2 ;; esac
if [ "$base" -lt 1024 ] || [ "$base" -gt 65500 ]; then echo "dev/cluster.sh: --port $base: choose 1024…65500" >&2; exit 2; fi
# Every port this run needs must be free: a leftover server would answer in its place.
for port in "$base" $((base + 1)) $((base + 2)) $((base + 3)) $((base + 11)) $((base + 12)) $((base + 13)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "dev/cluster.sh: port $port is taken; choose another base with --port" >&2
    exit 1
  fi
done

if [ "$release" = yes ]; then
  swift build -c release --product switchboard >&2
  bin=$root/.build/release/switchboard
else
  dev/setup.sh
  dev/build.sh >"$state/build.log" 2>&1 || { cat "$state/build.log" >&2; exit 1; }
  bin=$root/.build/debug/switchboard
fi

pids=()
stop() {
  # A second Ctrl-C (or a TERM forwarded twice) must not cut the clean-up short.
  trap '' INT TERM
  trap - EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$state/nginx.pid" ] && "$nginx" -p "$state" -c "$state/nginx.conf" -s quit 2>/dev/null || true
  dev/postgres.sh stop "$root/data/cluster-pg" || true
  echo "dev/cluster.sh: stopped" >&2
}
trap stop EXIT INT TERM

DATABASE_URL=$(dev/postgres.sh start "$root/data/cluster-pg")
export DATABASE_URL
echo "dev/cluster.sh: PostgreSQL at ${DATABASE_URL/:switchboard@/:•••@}" >&2

for i in 1 2 3; do
  INSTANCE=node-$i PORT=$((base + i)) OPS_PORT=$((base + 10 + i)) ADMIN_SOCKET=$state/node-$i.sock \
    "$bin" run dev/systems/cluster.json --log-format text >"$state/node-$i.log" 2>&1 &
  pids+=($!)
done

cat >"$state/nginx.conf" <<EOF
worker_processes 1;
pid $state/nginx.pid;
error_log $state/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
  upstream switchboard {
    server 127.0.0.1:$((base + 1));
    server 127.0.0.1:$((base + 2));
    server 127.0.0.1:$((base + 3));
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$base;
    location / {
      proxy_pass http://switchboard;
      proxy_http_version 1.1;
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      # Server-Sent Events: pass each event on at once, keep quiet streams open.
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
EOF

# Each instance answers its readiness probe once it runs.
for i in 1 2 3; do
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$((base + 10 + i))/readyz" >/dev/null 2>&1 && break
    kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { cat "$state/node-$i.log" >&2; exit 1; }
    sleep 0.1
  done
done
"$nginx" -p "$state" -c "$state/nginx.conf"
echo "dev/cluster.sh: open http://127.0.0.1:$base/ (nginx, round-robin) — Ctrl-C stops everything" >&2
for i in 1 2 3; do
  echo "  node-$i: http://127.0.0.1:$((base + i))/  ops http://127.0.0.1:$((base + 10 + i))/metrics  console: dev/switchboard console --socket data/cluster/node-$i.sock  log: data/cluster/node-$i.log" >&2
done
wait "${pids[@]}"
