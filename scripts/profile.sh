#!/usr/bin/env bash
# Counts the instructions concd spends per no-op on each pool with callgrind (counts, not times, so
# the figures repeat on a noisy machine). The daemon runs under valgrind; its worker processes and
# the load generator (concctl bench-load, pipelined over one blocking connection) run natively.
# A second pass profiles the client side: concctl bench-load through ConcClient against a native concd.
#
#   scripts/profile.sh [count per pool, default 20000]
#
# Needs valgrind (apt-get install valgrind) and a release build (swift build -c release).
# Writes callgrind.out.* and a summary to $OUT (default .build/profile) and prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-20000}
BIN=${BIN:-.build/release}
OUT=${OUT:-.build/profile}
command -v valgrind >/dev/null || { echo "profile.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
rm -rf "$OUT"; mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
socket="$OUT/concd.sock"

wait_for_socket() {
    for _ in $(seq 1 300); do [ -S "$1" ] && return 0; sleep 0.1; done
    echo "profile.sh: no socket at $1" >&2; return 1
}

# --- daemon side ---------------------------------------------------------------------------------
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.daemon.%p" --instr-atstart=yes \
    "$BIN/concd" --socket "$socket" --process-workers 2 --threads 8 --log-target stderr --log-level warning \
    2>"$OUT/valgrind-daemon.log" &
daemon=$!
wait_for_socket "$socket"
"$BIN/concctl" bench-load --socket "$socket" --pool thread --count 2000 >/dev/null  # warm every path
for pool in process thread async; do
    callgrind_control --zero "$daemon" >/dev/null
    "$BIN/concctl" bench-load --socket "$socket" --pool "$pool" --count "$COUNT" | tee -a "$OUT/load.txt"
    callgrind_control --dump="$pool" "$daemon" >/dev/null
done
kill -TERM "$daemon"; wait "$daemon" || true

# --- client side ---------------------------------------------------------------------------------
"$BIN/concd" --socket "$socket" --process-workers 2 --threads 8 --log-target stderr --log-level warning 2>/dev/null &
daemon=$!
wait_for_socket "$socket"
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.client" \
    "$BIN/concctl" bench-load --socket "$socket" --pool async --count "$COUNT" --concclient 2>"$OUT/valgrind-client.log" \
    | tee -a "$OUT/load.txt"
kill -TERM "$daemon"; wait "$daemon" || true

# --- summary -------------------------------------------------------------------------------------
{
    for file in "$OUT"/callgrind.out.daemon.*.[0-9]*; do
        pool=$(grep -m1 '^desc: Trigger' "$file" | sed 's/.*Dump //; s/desc: Trigger: //' || true)
        total=$(grep -m1 '^summary:' "$file" | awk '{print $2}')
        [ -n "$total" ] || total=$(grep -m1 '^totals:' "$file" | awk '{print $2}')
        echo "== daemon, $file ($pool): $total instructions, $((total / COUNT)) per no-op"
        callgrind_annotate --inclusive=yes --threshold=99 "$file" 2>/dev/null | sed -n '1,60p' | grep -E '^ *[0-9,]+ ' | head -30
    done
    total=$(grep -m1 '^summary:' "$OUT/callgrind.out.client" | awk '{print $2}')
    [ -n "$total" ] || total=$(grep -m1 '^totals:' "$OUT/callgrind.out.client" | awk '{print $2}')
    echo "== client (ConcClient, async pool): $total instructions in all, $((total / COUNT)) per no-op (start-up included)"
    callgrind_annotate --inclusive=yes --threshold=99 "$OUT/callgrind.out.client" 2>/dev/null | grep -E '^ *[0-9,]+ ' | head -30
} | tee "$OUT/summary.txt"
