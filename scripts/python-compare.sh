#!/usr/bin/env bash
# concd's Python worker pool against Python's ProcessPoolExecutor, side by side in one run
# (scripts/python-compare.py; docs/performance.md). Starts its own concd on a private socket.
#
#   scripts/python-compare.sh [WORKERS, default 2]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.build-static/release}
workers=${1:-2}
work=$(mktemp -d /tmp/concd-pycompare-XXXXXX)
concd_pid=""
cleanup() {
    [ -n "$concd_pid" ] && kill -TERM "$concd_pid" 2>/dev/null && wait "$concd_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
repository=$(pwd)
cat > "$work/concd.yaml" <<YAML
pools:
  seed:
    model: process
    workers: $workers
    command: ["python3", "$repository/examples/python/seed_worker.py"]
    environment: {PYTHONPATH: $repository/share/python}
  model:
    model: process
    workers: $workers
    command: ["python3", "$repository/examples/python/slow_start_worker.py"]
    environment: {PYTHONPATH: $repository/share/python, START_SECONDS: "1"}
YAML
"$bin/concd" --socket "$work/concd.sock" --config "$work/concd.yaml" --log-level warning 2> "$work/concd.log" &
concd_pid=$!
for _ in $(seq 300); do "$bin/concctl" --socket "$work/concd.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done
python3 scripts/python-compare.py "$work/concd.sock" "$workers"
