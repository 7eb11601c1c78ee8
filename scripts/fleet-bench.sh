#!/usr/bin/env bash
# Fleet-mode figures on this machine, PostgreSQL on the same machine over its Unix socket (no netns).
#
#   scripts/fleet-bench.sh BIN_DIR [N]      (BIN_DIR holds concd and concd-worker, e.g. .build/release;
#                                            N no-op jobs per throughput run, default 20000; needs root,
#                                            python3, jq and PostgreSQL 15 with pgbench)
#
#   (i)  throughput: N detached durable noop submissions pipelined into one or two concd, from the
#        first submission to the last job's finished_at (the database's clock), as jobs/s, for each
#        setting in FLEET_BENCH_SETTINGS (below; runs under 10 s are repeated FLEET_BENCH_REPEAT=3
#        times, median reported; a run is cut off after FLEET_BENCH_RUN_LIMIT=120 s); and the floor:
#        the same insert / claim / complete statements run by pgbench alone (batches of 1, 256 and
#        1000 jobs per statement, 5 s each); concd/floor is against the best of those.
#   (ii) pickup latency on an idle fleet: 200 jobs submitted one at a time, 20 ms apart; p50/p90 of
#        started_at - created_at (and of finished_at - created_at) from the database.
#
# A setting is "name daemons connections pools claim_batch prefetch poll" (pools: all, or a comma
# list). Each run starts from an empty table and fresh daemons. Exit 1 if submissions are refused
# or a job fails; 2: cannot run here. Takes about 2-3 minutes with the default settings.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
client=$root/Tests/fleet/fleet_client.py
# shellcheck source=../Tests/fleet/proc-lib.sh
source "$root/Tests/fleet/proc-lib.sh"
pgbin=/usr/lib/postgresql/15/bin
script_start=$SECONDS

say() { printf 'fleet-bench: [%3ds] %s\n' $((SECONDS - script_start)) "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
cannot() { echo "fleet-bench: cannot run here: $*" >&2; exit 2; }

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BIN_DIR [N]" >&2; exit 64; }
bin_src=$(realpath "$1")
count=${2:-20000}
for b in concd concd-worker; do [ -x "$bin_src/$b" ] || cannot "$bin_src/$b is missing (swift build -c release)"; done
[ "$(id -u)" -eq 0 ] || cannot "needs root (PostgreSQL runs as user postgres)"
for tool in jq python3; do command -v $tool >/dev/null || cannot "$tool is not installed"; done
[ -x $pgbin/pgbench ] || cannot "$pgbin/pgbench is missing (postgresql-15)"

default_settings="default 1 1 all 256 0 1
thread-only 1 1 thread 256 0 1
thread-b1000-p256 1 1 thread 1000 256 1
thread-b1000-p256-c4 1 4 thread 1000 256 1
all-poll0.05 1 1 all 256 0 0.05
two-daemons 2 2 thread 1000 256 1"
settings=${FLEET_BENCH_SETTINGS:-$default_settings}
run_limit=${FLEET_BENCH_RUN_LIMIT:-120}
repeat=${FLEET_BENCH_REPEAT:-3}

work=$(mktemp -d /tmp/cfb.XXXXXX)
chmod 755 "$work"
daemon_pids=()

stop_daemons() {
    local pid
    for pid in "${daemon_pids[@]}"; do stop_pid "$pid"; done
    daemon_pids=()
}
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_daemons
    "$root/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1
    if [ $rc -eq 0 ]; then rm -rf "$work"; else say "logs kept in $work"; fi
    say "done in $((SECONDS - script_start)) s, exit $rc"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir "$work/bin"
cp "$bin_src/concd" "$bin_src/concd-worker" "$work/bin/"

psql_c() { "$root/scripts/pg-cluster.sh" psql "$work/pg" -v ON_ERROR_STOP=1 -Atq "$@"; }
db_now() { psql_c -c "SELECT extract(epoch FROM clock_timestamp())"; }
# start_daemons N POOLS BATCH PREFETCH POLL: concd bench-1..N with sockets $work/dI.sock.
start_daemons() {
    local n=$1 pools=$2 batch=$3 prefetch=$4 poll=$5 i pools_line=''
    [ "$pools" = all ] || pools_line="  pools: [${pools//,/, }]"
    for ((i = 1; i <= n; i++)); do
        cat >"$work/d$i.yaml" <<EOF
queue:
  url: $url
  host_name: bench-$i
  lease: 10
  claim_batch: $batch
  prefetch: $prefetch
  poll: $poll
$pools_line
EOF
        "$work/bin/concd" --config "$work/d$i.yaml" --socket "$work/d$i.sock" --process-workers 2 \
            --log-target stderr 2>>"$work/d$i.log" &
        daemon_pids+=($!)
    done
    for ((i = 1; i <= n; i++)); do
        wait_for 20 eval "python3 $client call $work/d$i.sock '{\"v\":1,\"op\":\"status\"}' | jq -e '.status.queue.connected'" ||
            die "bench-$i did not connect to the database (log: $work/d$i.log)"
    done
}

say "PostgreSQL on a Unix socket in $work/pg"
eval "$("$root/scripts/pg-cluster.sh" start "$work/pg")"
url=$PGURL
cores=$(nproc)

# One concd to create the schema, stopped at once.
start_daemons 1 all 256 0 1
stop_daemons

# ------------------------------------------------------------------ floor: pgbench alone
# The statements concd sends, minus concd: insert B jobs, claim B (oldest first, SKIP LOCKED),
# record B completions; each its own transaction (fsync on), B = jobs per pgbench transaction.
floor() {
    local b=$1 clients=$2 seconds=$3 out
    psql_c -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS floor_jobs" -c "CREATE TABLE floor_jobs (LIKE concd_jobs INCLUDING ALL)"
    cat >"$work/floor.sql" <<EOF
INSERT INTO floor_jobs (pool, kind, request, max_attempts) SELECT 'thread', 'noop', '{"kind":"noop","v":1}', 3 FROM generate_series(1, $b);
WITH c AS (SELECT id FROM floor_jobs WHERE state = 'queued' AND pool = 'thread' AND run_at <= now() ORDER BY id LIMIT $b FOR UPDATE SKIP LOCKED) UPDATE floor_jobs j SET state = 'running', host = 'c' || :client_id, attempt = j.attempt + 1, started_at = now(), lease_until = now() + interval '10 s' FROM c WHERE j.id = c.id;
UPDATE floor_jobs SET state = 'succeeded', reply = '{"ok":true}', finished_at = now(), lease_until = NULL WHERE state = 'running' AND host = 'c' || :client_id;
EOF
    chmod 644 "$work/floor.sql"
    out=$($pgbin/pgbench -n -h "$work/pg/socket" -p "$PGPORT" -U concd -c "$clients" -j "$clients" -T "$seconds" \
        -f "$work/floor.sql" concd 2>&1) || die "pgbench failed: $out"
    # Jobs that reached succeeded, over the span of their finished_at (a run can end between a claim
    # and its completion, and concurrent claims can come back short: counting rows is exact).
    psql_c -c "SELECT round(count(*) / extract(epoch FROM max(finished_at) - min(created_at))) FROM floor_jobs WHERE state = 'succeeded'"
    psql_c -c "DROP TABLE floor_jobs"
}
say "floor: pgbench, 5 s per batch size"
floor_1=$(floor 1 1 5)
floor_256=$(floor 256 1 5)
floor_1000=$(floor 1000 1 5)
floor_256_c2=$(floor 256 2 5)
say "floor jobs/s: batch 1: $floor_1; batch 256: $floor_256 (2 clients: $floor_256_c2); batch 1000: $floor_1000"
best_floor=$(printf '%s\n' "$floor_256" "$floor_1000" "$floor_256_c2" | sort -n | tail -n 1)

# ------------------------------------------------------------------ (i) throughput
rows=()
best_rate=0
best_name=''
# one_run: one throughput run of the current setting; sets rate span submit_s p50 note.
one_run() {
    local summary finished_n
    psql_c -c "TRUNCATE concd_jobs" -c "VACUUM ANALYZE concd_jobs"
    start_daemons "$daemons" "$pools" "$batch" "$prefetch" "$poll"
    sockets=$(for ((i = 1; i <= daemons; i++)); do echo "$work/d$i.sock"; done | paste -sd,)
    start=$(db_now)
    summary=$(python3 "$client" submit --sockets "$sockets" --connections "$conns" --count "$count" \
        --job '{"kind":"noop","durable":true,"detach":true}' --window 1024)
    [ "$(jq .ok <<<"$summary")" -eq "$count" ] || die "$name: submissions refused: $summary"
    submit_s=$(jq .seconds <<<"$summary")
    finished() { [ "$(psql_c -c "SELECT count(*) FROM concd_jobs WHERE state = 'succeeded'")" -ge "$count" ]; }
    if wait_for "$run_limit" finished; then
        read -r rate span p50 < <(psql_c -F ' ' -c "
            SELECT round($count / (extract(epoch FROM max(finished_at)) - $start)), round((extract(epoch FROM max(finished_at)) - $start)::numeric, 2),
                round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)) * 1000)::numeric, 0)
            FROM concd_jobs")
        note=''
    else
        finished_n=$(psql_c -c "SELECT count(*) FROM concd_jobs WHERE state = 'succeeded'")
        rate=$(awk -v n="$finished_n" -v s="$run_limit" 'BEGIN { printf "%.0f", n / s }')
        span=">$run_limit"
        p50='-'
        note="(only $finished_n done in $run_limit s)"
    fi
    bad=$(psql_c -c "SELECT count(*) FROM concd_jobs WHERE state IN ('failed', 'cancelled')")
    [ "$bad" -eq 0 ] || die "$name: $bad jobs failed or were cancelled"
    stop_daemons
    say "$name: $rate jobs/s ($count in $span s; submitted in $submit_s s; p50 created->finished $p50 ms) $note"
}

while read -r name daemons conns pools batch prefetch poll; do
    [ -n "$name" ] || continue
    # Short runs are noisy (2 cores shared by the client, concd and PostgreSQL): those under 10 s
    # run $repeat times and report the median, with the range.
    rates=()
    one_run
    rates+=("$rate")
    first_span=${span#>}
    runs=1
    if awk -v s="$first_span" 'BEGIN { exit !(s < 10) }'; then
        while [ $runs -lt "$repeat" ]; do one_run; rates+=("$rate"); runs=$((runs + 1)); done
    fi
    sorted=$(printf '%s\n' "${rates[@]}" | sort -n)
    rate=$(sed -n "$(( (runs + 1) / 2 ))p" <<<"$sorted")
    range=$( [ "$runs" -gt 1 ] && echo "($(head -n 1 <<<"$sorted")..$(tail -n 1 <<<"$sorted"), $runs runs)" || echo "(1 run)")
    ratio=$(awk -v r="$rate" -v f="$best_floor" 'BEGIN { printf "%.2f", r / f }')
    rows+=("$(printf '  %-22s %7s %5s %-7s %5s %8s %5s %8s %8s %7s %6s %s %s' "$name" "$daemons" "$conns" "$pools" "$batch" "$prefetch" "$poll" \
        "$submit_s" "$span" "$rate" "$ratio" "$range" "$note")")
    if [ "$rate" -gt "$best_rate" ]; then best_rate=$rate; best_name=$name; fi
done <<<"$settings"

# ------------------------------------------------------------------ (ii) pickup latency, idle fleet
psql_c -c "TRUNCATE concd_jobs"
start_daemons 1 all 256 0 1
sleep 2
summary=$(python3 "$client" trickle "$work/d1.sock" --count 200 --pause 0.02 --job '{"kind":"noop","durable":true,"detach":true}')
[ "$(jq .ok <<<"$summary")" -eq 200 ] || die "pickup: submissions refused: $summary"
wait_for 30 eval "[ \$(psql_c -c \"SELECT count(*) FROM concd_jobs WHERE state = 'succeeded'\") -ge 200 ]" || die "pickup: not all 200 jobs finished"
read -r pick_p50 pick_p90 pick_max done_p50 done_p90 < <(psql_c -F ' ' -c "
    SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY s) * 1000)::numeric, 1),
        round((percentile_cont(0.9) WITHIN GROUP (ORDER BY s) * 1000)::numeric, 1),
        round((max(s) * 1000)::numeric, 1),
        round((percentile_cont(0.5) WITHIN GROUP (ORDER BY f) * 1000)::numeric, 1),
        round((percentile_cont(0.9) WITHIN GROUP (ORDER BY f) * 1000)::numeric, 1)
    FROM (SELECT extract(epoch FROM started_at - created_at) s, extract(epoch FROM finished_at - created_at) f FROM concd_jobs) x")
stop_daemons

cat <<EOF

fleet-bench: $count durable noop jobs per run; PostgreSQL 15 on a Unix socket, fsync on; $cores cores; $(date -u +%Y-%m-%dT%H:%MZ)
binary: $bin_src/concd, modified $(date -u -r "$bin_src/concd" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$work/bin/concd" | cut -c1-12)
(i) throughput, first submission -> last finished_at (database clock)
  setting                  daemons conns pools   batch prefetch  poll submit_s  total_s  jobs/s /floor  median (range)
  (submit_s, total_s: the last run's)
$(printf '%s\n' "${rows[@]}")
  floor (pgbench alone: insert B, claim B, complete B; jobs/s): B=1 $floor_1; B=256 $floor_256 (2 clients $floor_256_c2); B=1000 $floor_1000
  best: $best_name at $best_rate jobs/s = $(awk -v r="$best_rate" -v f="$best_floor" 'BEGIN { printf "%.2f", r / f }') x the best floor ($best_floor jobs/s)
(ii) pickup on an idle fleet: 200 noop jobs one at a time, 20 ms apart, one concd (default settings)
  started_at - created_at   p50 ${pick_p50} ms   p90 ${pick_p90} ms   max ${pick_max} ms
  finished_at - created_at  p50 ${done_p50} ms   p90 ${done_p90} ms
EOF
