#!/usr/bin/env bash
# User-space instructions per no-op in the daemon, counted by callgrind, per pool, sequential and
# pipelined.
#
#   scripts/instructions.sh [N, default 2000]
#
# One concd (the static release build, debug info stripped) runs under `valgrind --tool=callgrind
# --trace-children=no`: only the daemon's own process is counted. The process pool's workers are
# separate processes that run natively and are not counted; their share of a no-op is the worker
# loop's, which this does not measure. For each pool, after a warm-up, the load generator runs N
# and then 3N no-ops, first one at a time (window 1: send, wait for the reply, send the next), then
# pipelined with 256 in flight. Around each batch the counters are zeroed and dumped
# (callgrind_control -z / -d), and the figure is (I(3N) - I(N)) / 2N, which cancels what a batch
# costs whatever its size: the client's connect and close, the first read, the dump itself.
#
# Sequential counts repeat within 1-2% run to run; pipelined ones within a few per cent, up to 8%
# for the thread pool: how many replies share one read and one write depends on timing, which
# valgrind's one-thread-at-a-time scheduling changes. What it counts is the work, not the wait.
#
# Two more rows are pools that run a program, to compare with the built-in process pool's: `python`
# (examples/python/seed_worker.py) and `swift` (seed-worker-swift), each called with a function
# that does nothing (`noop`, `echo` of null). Their workers run natively too; the rows count what the
# daemon spends on a call: the JSON-lines channel, the call's arguments and result as JSON text.
#
# Environment: SKIP_BUILD=1 uses the binaries already in $BUILDDIR; OUT (default
# .build-static/instructions) keeps the dumps (callgrind.out.<pool>.<mode>.<N>) for
# callgrind_annotate; POOLS (default "async thread process python swift").
#
# Why the stripped copies: valgrind 3.19's DWARF reader crashes on Swift 6 binaries' debug info;
# `strip --strip-debug` keeps the symbol table, so the dumps still name every function.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=callgrind-lib.sh
source scripts/callgrind-lib.sh
N=${1:-2000}
POOLS=${POOLS:-async thread process python swift}
BUILDDIR=${BUILDDIR:-.build-static/release}
OUT=${OUT:-.build-static/instructions}
SWIFT=${SWIFT:-swift}
WINDOW=256
# The Makefile's SWIFT_BUILD_FLAGS: the binaries users run.
SWIFT_BUILD_FLAGS=(-c release --static-swift-stdlib --scratch-path .build-static
    -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xswiftc -enforce-exclusivity=unchecked)

for tool in valgrind callgrind_control strip; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is missing (apt-get install valgrind binutils)" >&2; exit 1; }
done

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    for product in concd concd-worker concctl seed-worker-swift; do
        "$SWIFT" build "${SWIFT_BUILD_FLAGS[@]}" --product "$product"
    done
fi

rm -rf "$OUT"; mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
for binary in concd concd-worker concctl; do
    strip --strip-debug -o "$OUT/bin/$binary" "$BUILDDIR/$binary"
done
BIN=$OUT/bin
socket="$OUT/concd.sock"

# The load generator: sends $3 no-ops to pool $1, $2 in flight at once, over one connection; on
# the pools that run a program, calls of a function that does nothing.
# (The one place that names it, so it can move.)
load() {
    local function=()
    case $1 in python) function=(--function noop) ;; swift) function=(--function echo) ;; esac
    "$BIN/concctl" bench-load --socket "$socket" --pool "$1" --window "$2" --count "$3" "${function[@]}" >>"$OUT/load.txt"
}
repository=$(pwd)
cat > "$OUT/concd.yaml" <<YAML
pools:
  python:
    model: process
    workers: 2
    command: ["python3", "$repository/examples/python/seed_worker.py"]
    environment: {PYTHONPATH: $repository/share/python}
  swift:
    model: process
    workers: 2
    command: ["$(cd "$BUILDDIR" && pwd)/seed-worker-swift"]
YAML

wait_for_socket() {
    for _ in $(seq 1 1200); do [ -S "$1" ] && return 0; sleep 0.1; done
    echo "instructions.sh: no socket at $1 (see $OUT/concd.log)" >&2; return 1
}

# The metrics record and its journal/stderr line would land in some batches and not others: pushed
# out of reach. Sizes are fixed so that runs on other machines count the same work.
valgrind --tool=callgrind --trace-children=no --callgrind-out-file="$OUT/callgrind.out.%p" \
    "$BIN/concd" --socket "$socket" --config "$OUT/concd.yaml" --log-target stderr --log-level warning --metrics-interval 86400 \
    --process-workers 2 --threads 8 2>"$OUT/concd.log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true' EXIT
wait_for_socket "$socket"

# Runs one batch between a zero and a dump; prints the instructions it cost.
batch() { callgrind_batch "$daemon" "$OUT" "$4" load "$1" "$2" "$3"; }

declare -A result
for pool in $POOLS; do
    load "$pool" "$WINDOW" 2000  # warm every path: the first use of a code page, a lazy global
    for mode in sequential pipelined; do
        window=$WINDOW; [ "$mode" = sequential ] && window=1
        small=$(batch "$pool" "$window" "$N" "$pool.$mode.$N")
        large=$(batch "$pool" "$window" $((3 * N)) "$pool.$mode.$((3 * N))")
        result[$pool.$mode]=$(( (large - small) / (2 * N) ))
    done
done

kill -TERM "$daemon"; wait "$daemon" || true
trap - EXIT

{
    echo "instructions per no-op in concd (callgrind, daemon process only; (I(3N) - I(N)) / 2N, N = $N)"
    printf '%-8s %12s %12s\n' pool sequential "pipelined"
    for pool in $POOLS; do
        printf '%-8s %12s %12s\n' "$pool" "${result[$pool.sequential]}" "${result[$pool.pipelined]}"
    done
    echo "(pipelined: $WINDOW in flight on one connection; dumps in $OUT for callgrind_annotate)"
} | tee "$OUT/summary.txt"
