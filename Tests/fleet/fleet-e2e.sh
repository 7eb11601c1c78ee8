#!/usr/bin/env bash
# End-to-end test of concd's fleet mode: real daemons, a real PostgreSQL, real network namespaces.
#
#   Tests/fleet/fleet-e2e.sh BIN_DIR        (BIN_DIR holds concd, concctl and concd-worker,
#                                            e.g. .build/release; needs root, iproute2, jq, python3)
#
#   a. PostgreSQL in namespace PREFIX-db on 10.77.0.1; concd host-1..3, each in its own namespace
#      (lease 2 s), each with its own control socket in a scratch directory.
#   b. 10 000 durable sleep jobs, pipelined over the three sockets; host-2 and its workers are
#      SIGKILLed mid-run. Checks: all 10 000 succeeded once, extra attempts only for jobs that were
#      running on host-2, nothing recorded by host-2 after the kill, the survivors' completion counters
#      match the rows they own, and host-2's jobs finished elsewhere within lease + 2 s of the kill.
#   c. Twice, host-3's link is cut for 3 x the lease while it runs 3 s process-pool jobs: 300 ms
#      after they started (host-3 should abandon them) and 400 ms before they end (their completions
#      go into the cut and reach the database after the heal). host-1 rescues and completes them.
#      Checks: every job succeeded once, none recorded by host-3 after the cut, each cut job either
#      recorded by host-3 before the cut or rescued from it, host-3's counters (claimed = completed +
#      fenced + held + dropped) account for every job it lost, its log shows completion_fenced or
#      jobs_abandoned, and the hosts' completion counters add up to the number of jobs.
#   d. A concd whose database is down at start: it is ready, answers ping and plain submits, reports
#      the problem, answers durable submits with queue_unavailable (concctl: exit 3); once PostgreSQL
#      starts on that port durable submits work within 10 s.
#
# Settings (environment): FLEET_E2E_JOBS (10000), FLEET_E2E_SLEEP_MS (500, scenario b's jobs),
# FLEET_E2E_DOWN_S (0: how long after host-d starts PostgreSQL is started in d),
# FLEET_E2E_TIME_LIMIT (235 s for the whole run). Takes about 50 s.
#
# Exit 0: all checks passed (or skipped where it cannot run); 1: a check failed (the message says
# which; logs are kept and named); 2: cannot run here with CONCD_REQUIRE_POSTGRES=1, or a binary
# is missing. Everything started is stopped on exit (trap), pass or fail.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=netns-lib.sh
source "$here/netns-lib.sh"
# shellcheck source=proc-lib.sh
source "$here/proc-lib.sh"

lease=2
jobs_b=${FLEET_E2E_JOBS:-10000}
sleep_ms_b=${FLEET_E2E_SLEEP_MS:-500}
# How long after host-d's start PostgreSQL is started (0: at once after the checks). concd's own
# reconnect delay doubles from 0.5 s up to 5 s.
down_s=${FLEET_E2E_DOWN_S:-0}
script_start=$SECONDS

say() { printf '%s [%3ds] %s\n' "fleet-e2e:" $((SECONDS - script_start)) "$*" >&2; }
fail() { say "FAILED: $*"; failed=1; exit 1; }
# Where it cannot run (not root, no PostgreSQL) it skips and passes, as make test's other end-to-end
# test does, unless CONCD_REQUIRE_POSTGRES=1 (CI) makes that a failure.
cannot() {
    echo "fleet-e2e: cannot run here: $*" >&2
    [ "${CONCD_REQUIRE_POSTGRES:-0}" = 1 ] && exit 2
    echo "fleet-e2e: skipped" >&2
    exit 0
}

[ $# -eq 1 ] || { echo "usage: $0 BIN_DIR   (BIN_DIR holds concd, concctl and concd-worker)" >&2; exit 64; }
bin_src=$(realpath "$1")
for b in concd concctl concd-worker; do
    [ -x "$bin_src/$b" ] || { echo "fleet-e2e: $bin_src/$b is missing (swift build -c release)" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || cannot "needs root (network namespaces, PostgreSQL as user postgres)"
for tool in ip jq python3 runuser; do command -v $tool >/dev/null || cannot "$tool is not installed"; done

prefix=cf$$
work=$(mktemp -d /tmp/cfe.XXXXXX)
chmod 755 "$work"
failed=0
daemon_pids=()       # every concd started here, by pid
net_made=0
clusters=()

client() { python3 "$here/fleet_client.py" "$@"; }
call() { client call "$@"; }
psql_b() { "$root/scripts/pg-cluster.sh" psql "$work/pg" -v ON_ERROR_STOP=1 -Atq "$@"; }
db_now() { psql_b -c "SELECT extract(epoch FROM clock_timestamp())"; }

# The worker processes of daemon $1: its children (concd-worker), from /proc.
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$' || true; }

cleanup() {
    local rc=$? pid w leftovers=()
    set +e
    trap - EXIT INT TERM
    [ ! -f "$work/watchdog.pid" ] || kill "$(cat "$work/watchdog.pid")" 2>/dev/null
    for pid in "${daemon_pids[@]}"; do
        local workers
        workers=$(children_of "$pid")
        stop_pid "$pid"
        for w in $workers; do
            # Workers die with their daemon; one that outlives it by 3 s is reported and killed.
            local waited=0
            while alive "$w" && [ $waited -lt 30 ]; do sleep 0.1; waited=$((waited + 1)); done
            if alive "$w"; then leftovers+=("$w"); kill -KILL "$w"; fi
        done
    done
    [ ${#leftovers[@]} -eq 0 ] || { say "worker processes outlived their daemon and were killed: ${leftovers[*]}"; rc=1; }
    for c in "${clusters[@]}"; do "$root/scripts/pg-cluster.sh" stop "$c" >/dev/null 2>&1; done
    if [ $net_made -eq 1 ]; then fleet_net_down "$prefix" 3 || { say "could not delete namespaces $prefix-*"; rc=1; }; fi
    if [ $rc -eq 0 ]; then
        rm -rf "$work"
    else
        say "logs kept in $work (h*.log: daemons)"
    fi
    say "done in $((SECONDS - script_start)) s, exit $rc"
    exit $rc
}
trap cleanup EXIT
trap 'say "FAILED: stopped by a signal (or the ${time_limit} s limit)"; exit 1' INT TERM
# The whole run is bounded: past the limit the script stops itself, and the trap cleans up.
time_limit=${FLEET_E2E_TIME_LIMIT:-235}
# Only a sleep that ran out (not one killed by cleanup) sends the signal.
(sleep "$time_limit" & echo $! >"$work/watchdog.pid"; wait $! && kill -TERM $$) 2>/dev/null &
disown $!

# A private copy of the binaries, so that a rebuild elsewhere cannot swap them mid-run.
mkdir "$work/bin"
cp "$bin_src/concd" "$bin_src/concctl" "$bin_src/concd-worker" "$work/bin/"

# write_config FILE URL HOST
write_config() {
    cat >"$1" <<EOF
queue:
  url: $2
  host_name: $3
  lease: $lease
  max_attempts: 3
  backoff: 1
  poll: 1
EOF
}

# start_daemon NAME NS_INDEX URL: concd NAME in host namespace NS_INDEX, socket $work/NAME.sock,
# log $work/NAME.log; sets pid_NAME (with - as _).
start_daemon() {
    local name=$1 ns=$2 url=$3
    write_config "$work/$name.yaml" "$url" "$name"
    # Not through fleet_in: a function in the background is a subshell, and $! would be its pid.
    ip netns exec "$prefix-h$ns" "$work/bin/concd" --config "$work/$name.yaml" --socket "$work/$name.sock" \
        --process-workers 2 --log-target stderr 2>"$work/$name.log" &
    local pid=$!
    # Ours to stop by pid; bash need not report its death (host-2 is killed on purpose).
    disown "$pid"
    daemon_pids+=("$pid")
    printf -v "pid_${name//-/_}" '%s' "$pid"
    # `ip netns exec` execs the command: the pid is concd's own.
    wait_for 15 grep -q 'event=ready' "$work/$name.log" || fail "$name did not log event=ready within 15 s (log: $work/$name.log)"
    [ "$(readlink "/proc/$pid/exe")" = "$work/bin/concd" ] || fail "pid $pid is not concd (ip netns exec did not exec?)"
}

queue_connected() { call "$work/$1.sock" '{"v":1,"op":"status"}' | jq -e '.status.queue.connected == true' >/dev/null; }
status_of() { call "$work/$1.sock" '{"v":1,"op":"status"}'; }

# ---------------------------------------------------------------- a. the fleet
say "a. namespaces $prefix-db, $prefix-h1..3; PostgreSQL on $fleet_db_addr; concd host-1..3"
net_made=1
fleet_net_up "$prefix" 3 || fail "fleet_net_up $prefix 3 failed"
clusters+=("$work/pg")
eval "$("$root/scripts/pg-cluster.sh" start "$work/pg" --listen "$fleet_db_addr" --netns "$prefix-db")" ||
    fail "PostgreSQL did not start in $prefix-db"
url=$PGURL
for i in 1 2 3; do start_daemon "host-$i" "$i" "$url"; done
for i in 1 2 3; do wait_for 20 queue_connected "host-$i" || fail "host-$i never reported status.queue.connected"; done
say "a. three hosts connected to $url"
status_workers_2=$(status_of host-2 | jq -r '.status.pools[].workers[]?.pid')
[ -n "$status_workers_2" ] || fail "host-2's status names no worker processes"

# ---------------------------------------------------------------- b. a host dies mid-run
job_b="{\"kind\":\"sleep\",\"ms\":$sleep_ms_b,\"durable\":true,\"detach\":true}"
say "b. submitting $jobs_b jobs $job_b over three sockets"
b_db_start=$(db_now)
summary=$(client submit --sockets "$work/host-1.sock,$work/host-2.sock,$work/host-3.sock" --count "$jobs_b" \
    --job "$job_b" --window 512 --ids "$work/ids-b")
summary_b=$summary
say "b. submitted: $summary"
[ "$(jq .ok <<<"$summary")" -eq "$jobs_b" ] || fail "only $(jq .ok <<<"$summary") of $jobs_b submissions were accepted: $summary"
first_b=$(jq .first_id <<<"$summary")
last_b=$(jq .last_id <<<"$summary")
[ $((last_b - first_b + 1)) -eq "$jobs_b" ] || fail "job ids $first_b..$last_b are not $jobs_b consecutive ids"
in_b="id BETWEEN $first_b AND $last_b"

# Kill once a fifth has finished and host-2 holds jobs it started less than 0.4 x their sleep ago.
quarter=$((jobs_b / 5))
b_ready() {
    # Give up at once when the run ended first (too few jobs to kill mid-run).
    [ "$(psql_b -c "SELECT count(*) FROM concd_jobs WHERE $in_b AND state = 'succeeded'")" -lt "$jobs_b" ] || return 0
    [ "$(psql_b -c "SELECT count(*) FILTER (WHERE state = 'succeeded') >= $quarter
        AND count(*) FILTER (WHERE state = 'running' AND host = 'host-2'
            AND started_at > now() - $sleep_ms_b * interval '0.4 millisecond') > 0 FROM concd_jobs WHERE $in_b")" = t ]
}
wait_for 60 b_ready || fail "host-2 never held running jobs with a quarter done (states: $(psql_b -c "SELECT string_agg(state || '=' || n, ' ') FROM (SELECT state, count(*) n FROM concd_jobs WHERE $in_b GROUP BY 1) s"))"
[ "$(psql_b -c "SELECT count(*) FROM concd_jobs WHERE $in_b AND state = 'succeeded'")" -lt "$jobs_b" ] ||
    fail "b: all $jobs_b jobs ended before host-2 could be killed mid-run (more jobs: FLEET_E2E_JOBS)"
# Its workers as /proc sees them now (quick: no round trip), with those its status named earlier.
workers_2=$( (echo "$status_workers_2"; children_of "$pid_host_2") | grep -E '^[0-9]+$' | sort -u)
# Both in one command: the daemon and its workers die together.
# shellcheck disable=SC2086
kill -KILL "$pid_host_2" $workers_2
kill_at=$(db_now)
running_2=$(psql_b -c "SELECT count(*) FROM concd_jobs WHERE $in_b AND state = 'running' AND host = 'host-2'")
done_at_kill=$(psql_b -c "SELECT count(*) FROM concd_jobs WHERE $in_b AND state = 'succeeded'")
say "b. SIGKILLed host-2 (pid $pid_host_2) and its workers ($(echo $workers_2)) at db time $kill_at; $running_2 jobs were running there, $done_at_kill done"
sleep 1
for p in $pid_host_2 $workers_2; do ! alive "$p" || fail "pid $p of host-2 is still alive after SIGKILL"; done

b_final() { [ "$(psql_b -c "SELECT count(*) FROM concd_jobs WHERE $in_b AND state IN ('succeeded','failed','cancelled')")" -eq "$jobs_b" ]; }
wait_for 90 b_final || fail "not all $jobs_b jobs were final 90 s after the kill ($(psql_b -c "SELECT string_agg(state || '=' || n, ' ') FROM (SELECT state, count(*) n FROM concd_jobs WHERE $in_b GROUP BY 1) s"))"
say "b. all final"

# One row of figures: succeeded, non-succeeded, jobs retried, retried whose errors are all host-2's
# lease_expired, attempts != errors + 1, recorded by host-2 after the kill, seconds from the kill to
# the last rescued job's end, first to last, per-host counts.
read -r b_ok b_bad b_retried b_retried_h2 b_attempt_mismatch b_h2_late b_rescue_s b_restart_s b_span b_h1 b_h2 b_h3 < <(psql_b -F ' ' -c "
    SELECT count(*) FILTER (WHERE state = 'succeeded'),
        count(*) FILTER (WHERE state <> 'succeeded'),
        count(*) FILTER (WHERE attempt > 1),
        count(*) FILTER (WHERE attempt > 1 AND errors @> '[{\"host\":\"host-2\",\"error\":{\"code\":\"lease_expired\"}}]'
            AND jsonb_array_length(errors) = attempt - 1
            AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(errors) e WHERE e->>'host' <> 'host-2')),
        count(*) FILTER (WHERE jsonb_array_length(errors) <> attempt - 1),
        count(*) FILTER (WHERE host = 'host-2' AND finished_at > to_timestamp($kill_at)),
        coalesce(round((extract(epoch FROM max(finished_at) FILTER (WHERE errors::text LIKE '%lease_expired%')) - $kill_at)::numeric, 2), -1),
        coalesce(round((extract(epoch FROM min(started_at) FILTER (WHERE errors::text LIKE '%lease_expired%')) - $kill_at)::numeric, 2), -1),
        round(extract(epoch FROM max(finished_at) - min(created_at))::numeric, 2),
        count(*) FILTER (WHERE host = 'host-1'), count(*) FILTER (WHERE host = 'host-2'), count(*) FILTER (WHERE host = 'host-3')
    FROM concd_jobs WHERE $in_b") || fail "b: could not read the figures from the database"
completed_1=$(status_of host-1 | jq .status.queue.completed)
completed_3=$(status_of host-3 | jq .status.queue.completed)
fenced_b=$(cat "$work/host-1.log" "$work/host-3.log" | grep -c 'event=completion_fenced' || true)
rescued_b=$( (status_of host-1; status_of host-3) | jq -s 'map(.status.queue.rescued) | add')

[ "$b_ok" -eq "$jobs_b" ] && [ "$b_bad" -eq 0 ] || fail "b: $b_ok of $jobs_b succeeded, $b_bad did not (lost jobs)"
[ "$b_retried" -ge 1 ] || fail "b: no job was retried, though host-2 died with $running_2 running"
[ "$b_retried" -eq "$b_retried_h2" ] || fail "b: $b_retried jobs ran more than once, only $b_retried_h2 of them because host-2's lease expired"
[ "$b_attempt_mismatch" -eq 0 ] || fail "b: $b_attempt_mismatch jobs have attempts that their errors do not account for"
[ "$b_h2_late" -eq 0 ] || fail "b: $b_h2_late completions were recorded for host-2 after it was killed"
# Each survivor recorded exactly as many completions as rows it owns: none recorded twice.
[ "$completed_1" -eq "$b_h1" ] || fail "b: host-1 counts $completed_1 recorded completions but owns $b_h1 rows"
[ "$completed_3" -eq "$b_h3" ] || fail "b: host-3 counts $completed_3 recorded completions but owns $b_h3 rows"
awk -v r="$b_rescue_s" -v l="$lease" 'BEGIN { exit !(r >= 0 && r <= l + 2) }' ||
    fail "b: host-2's jobs finished elsewhere $b_rescue_s s after the kill (limit: lease $lease + 2 s)"
say "b. passed"

# ---------------------------------------------------------------- c. a host is cut off
# Process-pool jobs: each host takes at most its 2 workers' worth, so host-3 surely claims some.
sleep_ms_c=3000
job_c="{\"kind\":\"sleep\",\"ms\":$sleep_ms_c,\"pool\":\"process\",\"durable\":true,\"detach\":true}"
jobs_c=6
cut_s=$((lease * 3))
c_rows=()

# cut_round NAME OFFSET_MS: host-3's link goes down OFFSET_MS after its jobs started (by their
# started_at), for cut_s seconds. "mid" (300 ms): host-3 should find its leases lapsed and abandon
# the tasks. "end" (the job's length - 400 ms): its tasks end during the cut, so their completions
# are sent into it and reach the database only after the heal, when another host holds the jobs.
cut_round() {
    local name=$1 offset_ms=$2 summary first last in_c ids cut_at heal_at log_from
    local ok bad by3_late by3_early rescued mismatch done_s told seen missing id
    local completed_before completed_after recorded q3_before q3_after dropped unnamed
    completed_before=$( (status_of host-1; status_of host-3) | jq -s 'map(.status.queue.completed) | add')
    # host-3's counters: claimed = completed + fenced + held (running) + dropped, where dropped are
    # the attempts it gave up itself (abandoned tasks, and outcomes it dropped unsent).
    q3() { status_of host-3 | jq -r '.status.queue | "\(.claimed) \(.completed) \(.fenced) \(.running)"'; }
    q3_before=$(q3)
    # host-3 must have both workers free, or it may claim fewer than its share.
    wait_for 20 eval "status_of host-3 | jq -e '.status.pools[] | select(.kind == \"process\") | .idle == 2'" ||
        fail "c-$name: host-3's process pool did not come back to 2 idle workers"
    log_from=$(wc -l <"$work/host-3.log")
    summary=$(client submit --sockets "$work/host-1.sock" --count $jobs_c --job "$job_c")
    [ "$(jq .ok <<<"$summary")" -eq $jobs_c ] || fail "c-$name: submissions refused: $summary"
    first=$(jq .first_id <<<"$summary")
    last=$(jq .last_id <<<"$summary")
    in_c="id BETWEEN $first AND $last"
    h3_running() { [ "$(psql_b -c "SELECT count(*) FROM concd_jobs WHERE $in_c AND state = 'running' AND host = 'host-3'")" -ge 1 ]; }
    wait_for 10 h3_running || fail "c-$name: host-3 claimed none of the jobs within 10 s"
    ids=$(psql_b -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM concd_jobs WHERE $in_c AND state = 'running' AND host = 'host-3'")
    # Sleep until OFFSET_MS after the latest start, by the database's clock.
    local pause
    pause=$(psql_b -c "SELECT greatest(0, extract(epoch FROM max(started_at) + $offset_ms * interval '1 millisecond' - clock_timestamp()))
        FROM concd_jobs WHERE id IN ($ids)")
    sleep "$pause"
    fleet_host_cut "$prefix" 3 || fail "fleet_host_cut failed"
    cut_at=$(db_now)
    say "c-$name. cut host-3's link ${offset_ms} ms after its jobs $ids started; healing in $cut_s s"
    sleep "$cut_s"
    fleet_host_heal "$prefix" 3 || fail "fleet_host_heal failed"
    heal_at=$(db_now)
    c_final() { [ "$(psql_b -c "SELECT count(*) FROM concd_jobs WHERE $in_c AND state IN ('succeeded','failed','cancelled')")" -eq $jobs_c ]; }
    wait_for 40 c_final || fail "c-$name: not all $jobs_c jobs were final 40 s after the heal"
    wait_for 40 queue_connected host-3 || fail "c-$name: host-3 did not reconnect within 40 s of the heal"
    # host-3 finds out once its sessions work again (a refused completion), or by itself when its
    # leases lapse (an abandoned task, or an outcome dropped while it waited to be sent). Every cut
    # job that it did not record must be accounted for by its counters, once it holds nothing.
    local events rescued_from_3
    # Jobs of the round that host-3 lost: the cut ones, and any it claimed with a claim that the cut
    # held back and that came back with its leases already lapsed by host-3's own reckoning.
    local late_claimed
    c_lost_sql="SELECT count(*) FILTER (WHERE errors @> '[{\"host\":\"host-3\",\"error\":{\"code\":\"lease_expired\"}}]'),
        count(*) FILTER (WHERE id NOT IN ($ids) AND errors @> '[{\"host\":\"host-3\",\"error\":{\"code\":\"lease_expired\"}}]')
        FROM concd_jobs WHERE $in_c"
    h3_settled() {
        events=$(tail -n +"$((log_from + 1))" "$work/host-3.log" | grep -E 'event=(completion_fenced|jobs_abandoned)' |
            sed -E 's/^[^ ]+ [^ ]+ [^ ]+ (dropped=\[([^]]*)\] )?(event=[a-z_]+) .*jobs=\[([^]]*)\].*$/\3 \4 \2/; s/#[0-9]+//g' | tr -d ',"')
        q3_after=$(q3)
        read -r c0 d0 f0 h0 <<<"$q3_before"
        read -r c1 d1 f1 h1 <<<"$q3_after"
        read -r rescued_from_3 late_claimed < <(psql_b -F ' ' -c "$c_lost_sql")
        dropped=$(( (c1 - c0) - (d1 - d0) - (f1 - f0) - (h1 - h0) ))
        fenced_d=$((f1 - f0))
        [ "$h1" -eq 0 ] && [ $((fenced_d + dropped)) -eq "$rescued_from_3" ]
    }
    if ! wait_for 40 h3_settled; then
        psql_b -F ' ' -c "SELECT id, state, host, attempt, started_at::time, finished_at::time, errors FROM concd_jobs WHERE $in_c ORDER BY id" >&2
        status_of host-3 | jq -c '.status.queue | del(.hosts)' >&2
        fail "c-$name: 40 s after the heal host-3's counters (claimed completed fenced held: $q3_before -> $q3_after) do not account for the $rescued_from_3 jobs rescued from it (log: $events)"
    fi
    [ "$rescued_from_3" -eq 0 ] || [ -n "$events" ] ||
        fail "c-$name: $rescued_from_3 jobs were rescued from host-3 but its log shows neither completion_fenced nor jobs_abandoned"
    unnamed=()
    for id in $(psql_b -c "SELECT id FROM concd_jobs WHERE $in_c AND errors @> '[{\"host\":\"host-3\",\"error\":{\"code\":\"lease_expired\"}}]'"); do
        grep -qE "(^| )$id( |\$)" <<<"$events" || unnamed+=("$id")
    done
    told=$(awk '{ e = $1; sub("event=", "", e); $1 = ""; printf "%s%s:%s", (NR > 1 ? "; " : ""), e, $0 }' <<<"$events")
    [ ${#unnamed[@]} -eq 0 ] || told+="; dropped unlogged: ${unnamed[*]}"
    read -r ok bad by3_late by3_early rescued mismatch done_s < <(psql_b -F ' ' -c "
        SELECT count(*) FILTER (WHERE state = 'succeeded'), count(*) FILTER (WHERE state <> 'succeeded'),
            count(*) FILTER (WHERE id IN ($ids) AND host = 'host-3' AND finished_at >= to_timestamp($cut_at)),
            count(*) FILTER (WHERE id IN ($ids) AND host = 'host-3' AND finished_at < to_timestamp($cut_at)
                AND jsonb_array_length(errors) = 0),
            count(*) FILTER (WHERE id IN ($ids) AND host <> 'host-3'
                AND errors @> '[{\"host\":\"host-3\",\"error\":{\"code\":\"lease_expired\"}}]'),
            count(*) FILTER (WHERE jsonb_array_length(errors) <> attempt - 1),
            round((extract(epoch FROM max(finished_at) FILTER (WHERE id IN ($ids))) - $cut_at)::numeric, 2)
        FROM concd_jobs WHERE $in_c") || fail "c-$name: could not read the figures from the database"
    local n_cut
    n_cut=$(tr ',' '\n' <<<"$ids" | wc -l)
    completed_after=$( (status_of host-1; status_of host-3) | jq -s 'map(.status.queue.completed) | add')
    recorded=$((completed_after - completed_before))
    [ "$ok" -eq $jobs_c ] && [ "$bad" -eq 0 ] || fail "c-$name: $ok of $jobs_c succeeded"
    [ "$by3_late" -eq 0 ] || fail "c-$name: $by3_late of host-3's jobs ($ids) were recorded by host-3 after the cut"
    # Each cut job: recorded by host-3 before the cut, once, or rescued from it and finished elsewhere.
    [ $((by3_early + rescued)) -eq "$n_cut" ] ||
        fail "c-$name: of host-3's $n_cut jobs, $by3_early were recorded by it before the cut and $rescued rescued from it"
    [ "$mismatch" -eq 0 ] || fail "c-$name: $mismatch jobs have attempts their errors do not account for"
    [ "$recorded" -eq $jobs_c ] || fail "c-$name: the hosts recorded $recorded completions for $jobs_c jobs"
    say "c-$name. passed: host-3 told: $told"
    c_rows+=("$(printf '  c-%-4s %-22s %s' "$name" "cut ${offset_ms} ms in" "jobs $ids on host-3: $rescued rescued, $by3_early recorded before the cut, $by3_late after; last done $done_s s after the cut; host-3 $told; its counters: fenced +$fenced_d, dropped +$dropped; claimed late and lost: $late_claimed; $recorded completions for $jobs_c jobs")")
}

say "c. two rounds of $jobs_c jobs $job_c; host-3 cut for $cut_s s (lease $lease s)"
cut_round mid 300
cut_round end $((sleep_ms_c - 400))

# ---------------------------------------------------------------- d. the database is down at start
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        [ -z "$(ip netns exec "$prefix-db" ss -Hltn "sport = :$p")" ] && { echo $p; return; }
    done
}
port_d=$(free_port)
url_d="postgres://concd@$fleet_db_addr:$port_d/concd"
say "d. host-d in $prefix-h1 with $url_d, where nothing listens"
d_started=$SECONDS
start_daemon host-d 1 "$url_d"
call "$work/host-d.sock" '{"v":1,"op":"ping"}' >/dev/null || fail "d: host-d does not answer ping"
plain=$(call "$work/host-d.sock" '{"v":1,"op":"submit","kind":"noop"}') || fail "d: a plain submit failed: $plain"
status_d=$(status_of host-d)
jq -e '.status.queue.connected == false and (.status.queue.problem | type == "string" and length > 10)' <<<"$status_d" >/dev/null ||
    fail "d: status.queue should say connected false with a problem: $(jq -c .status.queue <<<"$status_d")"
problem_d=$(jq -r .status.queue.problem <<<"$status_d")
durable_req='{"v":1,"op":"submit","kind":"noop","durable":true,"detach":true}'
refused=$(call "$work/host-d.sock" "$durable_req" || true)
[ "$(jq -r '.error.code // empty' <<<"$refused")" = queue_unavailable ] || fail "d: a durable submit should get queue_unavailable, got: $refused"
# The CLI says so too, with exit status 3 ("try later").
set +e
cli_out=$("$work/bin/concctl" --socket "$work/host-d.sock" submit --durable --detach noop 2>&1)
cli_rc=$?
set -e
[ $cli_rc -eq 3 ] || fail "d: concctl submit --durable should exit 3 while the database is down, exit $cli_rc: $cli_out"
say "d. down: ready, ping and plain submit ok, concctl exit 3 (${cli_out:0:100}); problem: $problem_d; PostgreSQL starts ${down_s} s after host-d"
while [ $((SECONDS - d_started)) -lt "$down_s" ]; do sleep 0.2; done
clusters+=("$work/pgd")
"$root/scripts/pg-cluster.sh" start "$work/pgd" --listen "$fleet_db_addr" --port "$port_d" --netns "$prefix-db" >/dev/null ||
    fail "d: PostgreSQL did not start on port $port_d"
up_at=$(date +%s.%N)
durable_ok() { call "$work/host-d.sock" "$durable_req" | jq -e '.ok == true and .job_id > 0'; }
wait_for 30 durable_ok || fail "d: durable submits still fail 30 s after PostgreSQL came up: $(call "$work/host-d.sock" "$durable_req")"
d_up_s=$(awk -v a="$(date +%s.%N)" -v b="$up_at" 'BEGIN { printf "%.1f", a - b }')
wait_for 10 queue_connected host-d || fail "d: status.queue.connected is still false after durable submits work"
cli_out=$("$work/bin/concctl" --socket "$work/host-d.sock" submit --durable noop 2>&1) ||
    fail "d: concctl submit --durable failed once the database was up: $cli_out"
awk -v s="$d_up_s" 'BEGIN { exit !(s <= 10) }' || fail "d: durable submits worked only $d_up_s s after PostgreSQL came up (want <= 10 s)"
say "d. passed: durable submits worked $d_up_s s after PostgreSQL was ready"
grep -E 'event=queue_(unavailable|ready|reconnected)' "$work/host-d.log" | sed 's/^/    host-d: /' | cut -c1-220 >&2

# ---------------------------------------------------------------- summary
cat <<EOF

fleet-e2e: all checks passed ($((SECONDS - script_start)) s)
  binary: $bin_src/concd, modified $(date -u -r "$bin_src/concd" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$work/bin/concd" | cut -c1-12)
  scenario                       figure
  b jobs submitted               $jobs_b x $job_b submitted in $(jq .seconds <<<"$summary_b") s
  b succeeded / not succeeded    $b_ok / $b_bad
  b first created -> last done   $b_span s  ($(awk -v n="$jobs_b" -v s="$b_span" 'BEGIN { printf "%.0f", n / s }') jobs/s)
  b rows per host (1 / 2 / 3)    $b_h1 / $b_h2 / $b_h3
  b running on host-2 at kill    $running_2  (done then: $done_at_kill)
  b retried (all host-2 leases)  $b_retried  (rescued by survivors: $rescued_b)
  b host-2 records after kill    $b_h2_late
  b kill -> first rescued start  $b_restart_s s
  b kill -> last rescued done    $b_rescue_s s  (limit $((lease + 2)) s)
  b completion_fenced (1, 3)     $fenced_b
$(printf '%s\n' "${c_rows[@]}")
  d db down at start for         ${down_s} s; problem said: $problem_d
  d db up -> durable submit ok   $d_up_s s
EOF
