#!/usr/bin/env bash
# Where concd's CPU time goes per no-op, on each pool, in the daemon and in ConcClient.
#
#   scripts/profile.sh [no-ops per pool, default 20000]
#
# A native concd (default pools) is driven by `concctl bench-load` (pipelined no-ops over one
# blocking connection, 256 in flight) while `perf record` samples the daemon's threads on the
# cpu-clock software event (10 kHz, frame-pointer call graphs). A last pass samples the client
# side: bench-load sending through ConcClient. CPU µs per no-op = samples / 10 kHz / no-ops.
#
# Why perf and not callgrind: valgrind 3.19 (Debian 12) dies with an internal SIGSEGV on any
# Swift 6.3 binary here (even --tool=none on `concctl --help`), and this KVM guest exposes no
# hardware counters, so sampled time is the measure available; compare runs by their shares.
#
# Needs perf (apt-get install linux-perf) and a release build (swift build -c release).
# Writes perf.data.* and summary.txt to $OUT (default .build/profile) and prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-20000}
BIN=${BIN:-.build/release}
OUT=${OUT:-.build/profile}
FREQ=10000
command -v perf >/dev/null || { echo "profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
rm -rf "$OUT"; mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
socket="$OUT/concd.sock"

wait_for_socket() {
    for _ in $(seq 1 300); do [ -S "$1" ] && return 0; sleep 0.1; done
    echo "profile.sh: no socket at $1" >&2; return 1
}

# Samples pid $1 into $2 while the rest of the arguments run; prints the samples taken.
sample() {
    local pid=$1 data=$2; shift 2
    perf record -q -e cpu-clock -F "$FREQ" -g -p "$pid" -o "$data" 2>/dev/null &
    local recorder=$!
    sleep 0.5
    "$@" >>"$OUT/load.txt"
    kill -INT "$recorder"; wait "$recorder" || true
}

# The heaviest symbols, self and inclusive, as shares of all samples.
report() {
    set +o pipefail  # head closes the pipe early on purpose
    local data=$1 title=$2 samples
    samples=$(perf script -i "$data" -F period 2>/dev/null | wc -l)
    echo "== $title: $samples samples = $(awk -v s="$samples" -v n="$COUNT" -v f="$FREQ" 'BEGIN{printf "%.1f", s / f / n * 1e6}') CPU µs per no-op"
    echo "-- self (top 15)"
    perf report -i "$data" --stdio --no-children --sort dso,symbol -g none --percent-limit 1 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | head -15 | cut -c1-160
    echo "-- inclusive (top 25)"
    perf report -i "$data" --stdio --children --sort symbol -g none --percent-limit 3 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | head -25 | cut -c1-200
}

"$BIN/concd" --socket "$socket" --log-target stderr --log-level warning 2>"$OUT/concd.log" &
daemon=$!
wait_for_socket "$socket"
"$BIN/concctl" bench-load --socket "$socket" --pool thread --count 2000 >/dev/null  # warm every path
for pool in process thread async; do
    sample "$daemon" "$OUT/perf.data.daemon.$pool" "$BIN/concctl" bench-load --socket "$socket" --pool "$pool" --count "$COUNT"
done

perf record -q -e cpu-clock -F "$FREQ" -g -o "$OUT/perf.data.client" \
    "$BIN/concctl" bench-load --socket "$socket" --pool async --count "$COUNT" --concclient >>"$OUT/load.txt" 2>/dev/null
kill -TERM "$daemon"; wait "$daemon" || true

{
    echo "== load"; cat "$OUT/load.txt"
    for pool in process thread async; do report "$OUT/perf.data.daemon.$pool" "daemon, $pool pool"; done
    report "$OUT/perf.data.client" "client (concctl bench-load through ConcClient, async pool, start-up included)"
} | tee "$OUT/summary.txt"
