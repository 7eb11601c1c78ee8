#!/usr/bin/env bash
# The seed's blocking-GET (one thread per URL) and asyncio programs against concd's thread and
# async pools at their default settings, side by side in one run (scripts/seed-compare.py;
# docs/performance.md). Starts its own loopback-http, python3 -m http.server and concd, all on
# loopback, and stops them on exit.
#
#   scripts/seed-compare.sh [COUNT, default 1000]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.build-static/release}
count=${1:-1000}
work=$(mktemp -d /tmp/concd-seedcompare-XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
# Enough descriptors for a thousand connections at once, on both sides.
ulimit -n 65536 2>/dev/null || true

"$bin/loopback-http" 0 > "$work/http.out" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/http.out" ] && break; sleep 0.05; done
base=$(head -1 "$work/http.out")

mkdir -p "$work/www"
printf 'a small page\n' > "$work/www/index.html"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$port" > "$work/pyhttp.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/index.html')" 2>/dev/null && break; sleep 0.05; done

# Default settings; CONNECTIONS sets pools.async.connections_per_host to try another value.
{
    echo "log: {level: warning}"
    [ -z "${CONNECTIONS:-}" ] || echo "pools: {async: {connections_per_host: $CONNECTIONS}}"
} > "$work/concd.yaml"
"$bin/concd" --socket "$work/concd.sock" --config "$work/concd.yaml" --log-level warning 2> "$work/concd.log" &
concd_pid=$!
pids+=("$concd_pid")
for _ in $(seq 300); do "$bin/concctl" --socket "$work/concd.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done

python3 scripts/seed-compare.py "$bin/concctl" "$work/concd.sock" "$concd_pid" \
    "$base/delay/50" "http://127.0.0.1:$port/index.html" "$count"
