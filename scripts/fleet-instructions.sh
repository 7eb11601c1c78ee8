#!/usr/bin/env bash
# User-space instructions per durable no-op job in the daemon, counted by callgrind: what one job
# costs concd from its submission to its recorded completion (the submit's decoding and reply, the
# batched insert, the claim, the run on the thread pool, the batched completion).
#
#   scripts/fleet-instructions.sh [N, default 2000]
#
# A private PostgreSQL (scripts/pg-cluster.sh) on a Unix socket; one concd with a queue: section
# (the static release build in $BUILDDIR, debug info stripped: see scripts/instructions.sh) under
# `valgrind --tool=callgrind --trace-children=no`. After a warm-up, N and then 3N detached durable
# no-op submissions are pipelined in (1024 in flight, one connection); the counters are zeroed
# before each batch and dumped once every job of it has succeeded. The figure is
# (I(3N) - I(N)) / 2N, which cancels what a batch costs whatever its size (the client's connect,
# the wait for the last job, the heartbeats and polls of those seconds). How many jobs share one
# statement depends on timing, which valgrind changes: counts repeat within a few per cent.
#
# Needs root (PostgreSQL runs as user postgres), valgrind, python3. OUT (default
# .build-static/fleet-instructions) keeps the dumps for callgrind_annotate. Exit 2: cannot run here.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
N=${1:-2000}
BUILDDIR=${BUILDDIR:-.build-static/release}
OUT=${OUT:-.build-static/fleet-instructions}
client=$root/Tests/fleet/fleet_client.py
# shellcheck source=../Tests/fleet/proc-lib.sh
source "$root/Tests/fleet/proc-lib.sh"
# shellcheck source=callgrind-lib.sh
source "$root/scripts/callgrind-lib.sh"

cannot() { echo "fleet-instructions.sh: cannot run here: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || cannot "needs root (PostgreSQL runs as user postgres)"
for tool in valgrind callgrind_control strip python3; do command -v "$tool" >/dev/null || cannot "$tool is missing"; done
for binary in concd concd-worker; do [ -x "$BUILDDIR/$binary" ] || cannot "$BUILDDIR/$binary is missing (make build)"; done

rm -rf "$OUT"; mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
chmod 755 "$OUT"
strip --strip-debug -o "$OUT/bin/concd" "$BUILDDIR/concd"
cp "$BUILDDIR/concd-worker" "$OUT/bin/"
socket=$OUT/concd.sock
daemon=''

cleanup() {
    local rc=$?
    set +e
    if [ -n "$daemon" ]; then
        # Under valgrind a graceful stop takes seconds: up to 30 s before SIGKILL.
        kill -TERM "$daemon" 2>/dev/null
        for _ in $(seq 1 300); do alive "$daemon" || break; sleep 0.1; done
        kill -KILL "$daemon" 2>/dev/null
        wait "$daemon" 2>/dev/null
    fi
    "$root/scripts/pg-cluster.sh" stop "$OUT/pg" >/dev/null 2>&1
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

eval "$("$root/scripts/pg-cluster.sh" start "$OUT/pg")"
psql_c() { "$root/scripts/pg-cluster.sh" psql "$OUT/pg" -v ON_ERROR_STOP=1 -Atq "$@"; }
cat >"$OUT/concd.yaml" <<EOF
queue:
  url: $PGURL
  host_name: instructions
EOF
# The metrics record would land in some batches and not others: pushed out of reach.
valgrind --tool=callgrind --trace-children=no --callgrind-out-file="$OUT/callgrind.out.%p" \
    "$OUT/bin/concd" --socket "$socket" --config "$OUT/concd.yaml" --log-target stderr --log-level warning \
    --metrics-interval 86400 --process-workers 2 --threads 8 2>"$OUT/concd.log" &
daemon=$!
connected() { python3 "$client" call "$socket" '{"v":1,"op":"status"}' | grep -Eq '"connected": ?true'; }
wait_for 120 connected || { echo "fleet-instructions.sh: concd did not reach the database (see $OUT/concd.log)" >&2; exit 1; }

succeeded_count() { psql_c -c "SELECT count(*) FROM concd_jobs WHERE state = 'succeeded'"; }
succeeded() { [ "$(succeeded_count)" -ge "$1" ]; }
# submit COUNT: pipelines COUNT durable no-ops and waits until they all succeeded (every earlier
# batch has: the target is counted from the table, as this runs in a subshell within a batch).
submit() {
    local summary before
    before=$(succeeded_count)
    summary=$(python3 "$client" submit --sockets "$socket" --connections 1 --count "$1" \
        --job '{"kind":"noop","durable":true,"detach":true}' --window 1024)
    grep -Eq "\"ok\": ?$1," <<<"$summary" || { echo "fleet-instructions.sh: submissions refused: $summary" >&2; exit 1; }
    wait_for 600 succeeded $((before + $1)) || { echo "fleet-instructions.sh: jobs did not finish (see $OUT/concd.log)" >&2; exit 1; }
}
# batch COUNT NAME: prints the instructions COUNT jobs cost, between a zero and a dump.
batch() { callgrind_batch "$daemon" "$OUT" "$2" submit "$1"; }

submit 1000  # warm every path: the first use of a code page, a lazy global, the thread pool's growth
small=$(batch "$N" "durable.$N")
large=$(batch $((3 * N)) "durable.$((3 * N))")
{
    echo "instructions per durable no-op job in concd (callgrind, daemon process only; (I(3N) - I(N)) / 2N, N = $N)"
    echo "durable $(( (large - small) / (2 * N) ))"
    echo "(submitted detached, 1024 in flight on one connection; dumps in $OUT for callgrind_annotate)"
} | tee "$OUT/summary.txt"
