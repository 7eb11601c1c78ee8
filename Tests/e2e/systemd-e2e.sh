#!/usr/bin/env bash
# End-to-end test of concd under a real systemd.
#
# Boots systemd as PID 1 in a throw-away box (Tests/e2e/sdbox: private namespaces over an overlay
# of this machine's root, loopback-only network), runs `make install SKIP_BUILD=1` inside it, and
# checks what a user does: start concd, submit work over the default socket, read the metrics in
# the journal, reload a changed configuration, socket activation, the watchdog, and stop.
#
# Each check prints PASS or FAIL with its name; the last line is "N passed, N failed" and the exit
# status is non-zero if any check failed. Where the test cannot run (not root, no
# unshare/nsenter, no systemd, a box that does not boot) it says why and exits 0.
#
# Needs the release binaries (make build). Environment:
#   E2E_BUILDDIR      the binaries to install (default: <repo>/.build/release)
#   E2E_DROPIN        a host file installed as an extra drop-in for concd.service (debugging)
#   E2E_KEEP_BOX=1    leave the box running at the end (stop it with: Tests/e2e/sdbox stop NAME)
#   SDBOX_STATE       where sdbox keeps its state (default /run/concd-sdbox)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
sdbox=$repo/Tests/e2e/sdbox
builddir=${E2E_BUILDDIR:-$repo/.build/release}
box=concd-e2e-$$
export SDBOX_STATE=${SDBOX_STATE:-/run/concd-sdbox}
config=/etc/concd/concd.yaml
dropins=/etc/systemd/system/concd.service.d
passed=0 failed=0 box_started=0

say() { echo "systemd-e2e: $*"; }
skip() { say "SKIP: $*"; echo "0 passed, 0 failed"; exit 0; }

# ------------------------------------------------------------------------------------------
# Can it run here?
[ "$(id -u)" -eq 0 ] || skip "needs root to boot systemd in private namespaces (run as root, e.g. in CI)"
command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) is not installed"
command -v nsenter >/dev/null 2>&1 || skip "nsenter (util-linux) is not installed"
[ -x /lib/systemd/systemd ] || skip "/lib/systemd/systemd is not installed"
for binary in concd concd-worker concctl loopback-http; do
  if [ ! -x "$builddir/$binary" ]; then
    say "ERROR: $builddir/$binary is missing; run make build first"
    exit 2
  fi
done
case "$builddir" in /*) ;; *) builddir=$repo/$builddir ;; esac

# ------------------------------------------------------------------------------------------
# Helpers
in_box() { "$sdbox" exec "$box" "$@"; }
# in_box with a deadline, so that a hung command fails its check instead of the whole run
in_box_t() { local seconds=$1; shift; timeout --kill-after=5 "$seconds" "$sdbox" exec "$box" "$@"; }
prop() { in_box systemctl show -p "$2" --value "$1" 2>/dev/null; }
# the last N lines of concd's journal, without libdispatch's harmless notice that it may not renice
# its threads (logged by every unprivileged Swift process that uses Dispatch)
journal_tail() {
  in_box journalctl --no-pager -u concd -n $(( $1 * 10 )) -o "${2:-cat}" 2>&1 |
    grep -v 'Failed to set thread priority for worker thread' | tail -n "$1"
}

pass() { passed=$((passed + 1)); echo "PASS  $1${2:+: $2}"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1${2:+: $2}"; }

# waits up to $1 seconds for the command to succeed
wait_for() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  while true; do
    "$@" && return 0
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.5
  done
}

# JSON without jq: python3 where it exists, else grep (keys are sorted and the process pool comes
# first, so the first "size" is .pools[0].size)
first_pool_size() {
  if [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["pools"][0]["size"])' 2>/dev/null
  else
    grep -o '"size": *[0-9]*' | head -1 | grep -o '[0-9]*$'
  fi
}

# Prints the YAML on stdin with KEY (dotted path, e.g. pools.process.workers) set to VALUE;
# comments and layout stay. Exits 3 when the key is not in the file.
yaml_set() {
  awk -v want="$1" -v value="$2" '
    /^[ \t]*(#.*)?$/ { print; next }
    {
      match($0, /^ */); indent = RLENGTH
      while (depth > 0 && indents[depth] >= indent) depth--
      if (match($0, /^ *[A-Za-z0-9_.-]+:/)) {
        key = substr($0, indent + 1, RLENGTH - indent - 1)
        depth++; keys[depth] = key; indents[depth] = indent
        path = keys[1]; for (i = 2; i <= depth; i++) path = path "." keys[i]
        if (path == want) {
          rest = substr($0, RLENGTH + 1); comment = ""
          if (match(rest, /[ \t]+#.*$/)) comment = substr(rest, RSTART)
          printf "%s%s: %s%s\n", substr($0, 1, indent), key, value, comment
          found = 1; next
        }
      }
      print
    }
    END { if (!found) exit 3 }'
}

cleanup() {
  local status=$?
  if [ "$box_started" = 1 ]; then
    if [ "${E2E_KEEP_BOX:-0}" = 1 ]; then
      say "box $box left running (E2E_KEEP_BOX=1); stop it with: SDBOX_STATE=$SDBOX_STATE $sdbox stop $box"
    else
      "$sdbox" stop "$box" || say "WARNING: could not stop box $box"
    fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------------
# Boot
say "booting systemd in box $box (state in $SDBOX_STATE)"
if ! boot_output=$("$sdbox" start "$box" 2>&1); then
  skip "the box did not boot: $boot_output"
fi
box_started=1
say "box $box is up (PID 1 is $boot_output on the host); systemd $(in_box systemctl --version | head -1 | awk '{print $2}')"

# ------------------------------------------------------------------------------------------
# Install inside the box. The box mounts fresh tmpfs on /tmp, /run and /var/tmp, so a clone or a
# build below those (CI may clone anywhere) is not visible inside: copy in what install needs.
stage=/var/lib/concd-e2e
tar -C "$repo" -cf - Makefile systemd etc share | in_box sh -c "mkdir -p $stage/src && tar -C $stage/src -xf -"
tar -C "$builddir" -cf - concd concd-worker concctl loopback-http | in_box sh -c "mkdir -p $stage/bin && tar -C $stage/bin -xf -"
repo=$stage/src
builddir=$stage/bin
if in_box sh -c 'command -v make' >/dev/null 2>&1; then
  if install_log=$(in_box_t 120 make -C "$repo" --no-print-directory install SKIP_BUILD=1 BUILDDIR="$builddir" 2>&1); then
    pass "install: make install SKIP_BUILD=1 inside the box" "$(echo "$install_log" | grep -c '^installed') files"
  else
    fail "install: make install SKIP_BUILD=1 inside the box" "$(echo "$install_log" | tail -5 | tr '\n' ' ')"
  fi
else
  # no make in the box: install the same files by hand
  in_box sh -ec '
    install -D -m 0755 "$1/concd" /usr/local/bin/concd
    install -D -m 0755 "$1/concd-worker" /usr/local/bin/concd-worker
    install -D -m 0755 "$1/concctl" /usr/local/bin/concctl
    mkdir -p /usr/local/lib/systemd/system /usr/local/lib/sysusers.d /etc/concd
    sed -e "s|@BINDIR@|/usr/local/bin|g" -e "s|@SYSCONFDIR@|/etc|g" "$2/systemd/concd.service.in" > /usr/local/lib/systemd/system/concd.service
    install -m 0644 "$2/systemd/concd.socket" /usr/local/lib/systemd/system/concd.socket
    install -m 0644 "$2/systemd/concd.sysusers" /usr/local/lib/sysusers.d/concd.conf
    [ -f "$2/etc/concd/concd.yaml" ] && install -m 0644 "$2/etc/concd/concd.yaml" /etc/concd/concd.yaml || true
    install -D -m 0644 "$2/share/python/concd_worker.py" /usr/local/share/concd/python/concd_worker.py
    systemd-sysusers /usr/local/lib/sysusers.d/concd.conf' sh "$builddir" "$repo" &&
    pass "install: by copying (no make in the box)" || fail "install: by copying (no make in the box)"
fi
if ! in_box test -f "$config"; then
  say "NOTE: $repo/etc/concd/concd.yaml does not exist; the box gets a minimal $config"
  printf '# written by systemd-e2e.sh (the repository ships no etc/concd/concd.yaml yet)\npools:\n  process:\n    workers: 2\n' |
    in_box sh -c "mkdir -p /etc/concd && cat > $config && chmod 0644 $config"
fi

# Test settings: a metrics record every second, no core dumps when the watchdog aborts concd.
in_box mkdir -p "$dropins"
printf '[Service]\nEnvironment=CONCD_METRICS_INTERVAL=1\nLimitCORE=0\n' | in_box sh -c "cat > $dropins/50-e2e.conf"
# The optional Prometheus listener, on the box's own loopback.
printf '[Service]\nEnvironment=CONCD_METRICS_LISTEN=127.0.0.1:9464\n' | in_box sh -c "cat > $dropins/51-e2e-metrics.conf"
if [ -n "${E2E_DROPIN:-}" ]; then
  say "NOTE: extra drop-in from E2E_DROPIN=$E2E_DROPIN:"; sed 's/^/    /' "$E2E_DROPIN"
  in_box sh -c "cat > $dropins/55-e2e-extra.conf" < "$E2E_DROPIN"
fi
in_box systemctl daemon-reload

# A loopback HTTP server inside the box (its network namespace has only lo).
in_box systemd-run --quiet --unit=concd-e2e-http --collect \
  -p StandardOutput=file:/run/concd-e2e-http.url -p StandardError=journal "$builddir/loopback-http"
url=""
wait_for 10 in_box test -s /run/concd-e2e-http.url && url=$(in_box head -1 /run/concd-e2e-http.url)
if [ -n "$url" ]; then say "loopback HTTP server at $url"; else say "WARNING: the loopback HTTP server did not start"; fi

# ------------------------------------------------------------------------------------------
# a. start: active, with a STATUS line
step="a. systemctl start concd -> active with a STATUS line"
start_output=$(in_box_t 90 systemctl start concd 2>&1 | head -1)
state=$(in_box systemctl is-active concd)
status_text=$(prop concd StatusText)
if [ "$state" = active ] && [ -n "$status_text" ] && [[ $status_text == *process* ]]; then
  pass "$step" "StatusText=$status_text"
else
  fail "$step" "is-active=$state StatusText='$status_text' ${start_output:+($start_output)}"
fi

# a2. the process pool's workers are the small concd-worker binary installed beside concd
step="a2. process workers run concd-worker (installed beside concd)"
exes=$(in_box sh -c 'for p in $(cat /proc/$1/task/*/children); do readlink "/proc/$p/exe"; done' sh \
  "$(prop concd MainPID)" 2>/dev/null | sort | uniq -c | awk '{print $2 " x" $1}' | tr '\n' ' ')
if [[ $exes == *"/concd-worker x"* ]]; then
  pass "$step" "$exes"
else
  fail "$step" "the service's processes run: ${exes:-nothing readable}"
fi

# b. submit over the default socket, as root and as a member of group concd
step="b. concctl submit cpu 10000000 over the default socket"
out=$(in_box_t 60 concctl submit cpu 10000000 2>&1)
if [ "$(echo "$out" | head -1 | awk '{print $1}')" = 49999995000000 ]; then
  pass "$step" "$(echo "$out" | head -1)"
else
  fail "$step" "got: $(echo "$out" | head -3 | tr '\n' ' ')"
fi

step="b. concctl submit io (HTTP GET to the loopback server)"
if [ -z "$url" ]; then
  fail "$step" "no loopback HTTP server"
else
  out=$(in_box_t 60 concctl submit io "$url/" 2>&1); rc=$?
  if [ $rc -eq 0 ] && [[ $out == *"HTTP 200"* ]]; then
    pass "$step" "$(echo "$out" | head -1)"
  else
    fail "$step" "exit $rc: $(echo "$out" | head -3 | tr '\n' ' ')"
  fi
fi

step="b. socket permissions: group concd may submit, others may not"
concd_gid=$(in_box getent group concd | cut -d: -f3)
if [ -z "$concd_gid" ]; then
  fail "$step" "no group concd in the box (systemd-sysusers did not run?)"
else
  member=$(in_box_t 30 setpriv --reuid=65534 --regid=65534 --groups="$concd_gid" concctl ping 2>&1); member_rc=$?
  other=$(in_box_t 30 setpriv --reuid=65534 --regid=65534 --clear-groups concctl ping 2>&1); other_rc=$?
  if [ $member_rc -eq 0 ] && [ $other_rc -ne 0 ]; then
    pass "$step" "member: ok; non-member: exit $other_rc"
  else
    fail "$step" "member: exit $member_rc ($(echo "$member" | head -1)); non-member: exit $other_rc ($(echo "$other" | head -1)); $(in_box ls -ld /run/concd /run/concd/concd.sock 2>&1 | tr '\n' ' ')"
  fi
fi

# b2. admin commands: root (and the daemon's user) may, a member of group concd may not; the
# journal records both with the caller's uid
step="b2. admin: root may resize, a member of group concd is refused (exit 7), both audited"
if [ -z "$concd_gid" ]; then
  fail "$step" "no group concd in the box"
else
  as_root=$(in_box_t 30 concctl resize thread 9 2>&1); root_rc=$?
  as_member=$(in_box_t 30 setpriv --reuid=65534 --regid=65534 --groups="$concd_gid" concctl resize thread 3 2>&1); member_rc=$?
  audited() {
    in_box journalctl --no-pager -u concd CONCD_EVENT=admin -o json 2>/dev/null | grep -q '"CONCD_CALLER_UID" *: *"65534"' &&
      in_box journalctl --no-pager -u concd CONCD_EVENT=admin CONCD_OUTCOME=done -o json 2>/dev/null | grep -q '"CONCD_CALLER_UID" *: *"0"'
  }
  # pools come in the order process, thread, async, and only pools have a "size"
  threads=$(in_box_t 10 concctl status --json 2>/dev/null | grep -o '"size": *[0-9]*' | sed -n 2p | grep -o '[0-9]*$')
  if [ $root_rc -eq 0 ] && [ $member_rc -eq 7 ] && wait_for 10 audited && [ "$threads" = 9 ]; then
    pass "$step" "root: $as_root; member: exit 7; thread pool size $threads"
  else
    fail "$step" "root exit $root_rc ($as_root); member exit $member_rc ($as_member); thread pool size '$threads'; journal: $(in_box journalctl --no-pager -u concd CONCD_EVENT=admin -n 3 2>&1 | tr '\n' ' ')"
  fi
  in_box_t 30 concctl resize thread 8 >/dev/null 2>&1
fi

# c. a metrics record per pool in the journal
step="c. journalctl -u concd CONCD_POOL=process -o json has a metrics record"
has_metrics() { in_box journalctl --no-pager -u concd CONCD_POOL=process -o json 2>/dev/null | grep -q '"CONCD_POOL" *: *"process"'; }
if wait_for 15 has_metrics; then
  record=$(in_box journalctl --no-pager -u concd CONCD_POOL=process -o json -n 1 | grep -o '"CONCD_[A-Z0-9_]*" *: *"[^"]*"' | tr '\n' ' ')
  pass "$step" "$record"
else
  fail "$step" "no record within 15 s (CONCD_METRICS_INTERVAL=1)"
fi

# c. Prometheus text under the hardened unit: over the control socket and from the HTTP listener
step="c. concctl metrics and GET http://127.0.0.1:9464/metrics (CONCD_METRICS_LISTEN)"
socket_text=$(in_box_t 30 concctl metrics 2>&1)
http_text=$(in_box_t 30 curl -sS -i http://127.0.0.1:9464/metrics 2>&1)
cpu=$(in_box_t 30 concctl status --json 2>/dev/null | grep -o '"workers_s":[0-9.e-]*')
if [[ $socket_text == *'concd_tasks_completed_total{pool="process"}'* ]] \
  && [[ $http_text == *"text/plain; version=0.0.4"* ]] && [[ $http_text == *concd_pool_size* ]] && [ -n "$cpu" ]; then
  pass "$step" "$(echo "$socket_text" | grep -m1 'concd_tasks_completed_total{pool="process"}'); status $cpu"
else
  fail "$step" "socket: $(echo "$socket_text" | head -2 | tr '\n' ' ') http: $(echo "$http_text" | head -2 | tr '\n' ' ') cpu: '$cpu'"
fi

# d. reload with a changed pool size
step="d. systemctl reload concd applies pools.process.workers"
json=$(in_box_t 30 concctl status --json 2>/dev/null)
before=$(echo "$json" | first_pool_size)
pid_before=$(prop concd MainPID)
if [ -z "$before" ]; then
  fail "$step" "concctl status --json gave no pool size: $(echo "$json" | head -c 200)"
else
  want=$((before + 1)); [ "$before" -ge 8 ] && want=$((before - 1))
  edited=$(in_box cat "$config" | yaml_set pools.process.workers "$want"); edit_rc=$?
  if [ $edit_rc -eq 3 ] && ! in_box grep -q '^pools:' "$config"; then
    edited=$(in_box cat "$config"; printf 'pools:\n  process:\n    workers: %s\n' "$want"); edit_rc=0
  fi
  if [ $edit_rc -ne 0 ]; then
    fail "$step" "could not set pools.process.workers in $config (awk exit $edit_rc)"
  else
    echo "$edited" | in_box sh -c "cat > $config"
    reload_output=$(in_box_t 60 systemctl reload concd 2>&1)
    size_is() { [ "$(in_box_t 10 concctl status --json 2>/dev/null | first_pool_size)" = "$want" ]; }
    if wait_for 20 size_is; then
      pid_after=$(prop concd MainPID)
      if [ "$pid_after" = "$pid_before" ]; then
        pass "$step" "process pool $before -> $want, same MainPID $pid_after"
      else
        fail "$step" "pool size is $want but MainPID changed $pid_before -> $pid_after (restarted, not reloaded)"
      fi
    else
      now=$(in_box_t 10 concctl status --json 2>/dev/null | first_pool_size)
      fail "$step" "process pool size is ${now:-?} after reload, wanted $want (was $before)${reload_output:+ ($reload_output)}; is-active=$(in_box systemctl is-active concd) Result=$(prop concd Result) ExecMainCode=$(prop concd ExecMainCode) ExecMainStatus=$(prop concd ExecMainStatus)"
    fi
  fi
fi

# e. socket activation: the first connection starts concd
step="e. socket activation: concctl ping starts concd via concd.socket"
in_box_t 60 systemctl stop concd.service 2>/dev/null
in_box_t 30 systemctl start concd.socket 2>/dev/null
sock_state=$(in_box systemctl is-active concd.socket)
svc_state=$(in_box systemctl is-active concd.service)
if [ "$sock_state" != active ] || [ "$svc_state" = active ]; then
  fail "$step" "before ping: concd.socket $sock_state, concd.service $svc_state"
else
  out=$(in_box_t 30 concctl ping 2>&1); rc=$?
  svc_state=$(in_box systemctl is-active concd.service)
  if [ $rc -eq 0 ] && [ "$svc_state" = active ]; then
    pass "$step" "$out"
  else
    fail "$step" "ping exit $rc ($(echo "$out" | head -1)); concd.service $svc_state; $(journal_tail 3 | tr '\n' ' ')"
  fi
fi

# e2. restart under load: with concd.socket holding the listening socket, connections made while
# concd restarts wait in its backlog, in-flight tasks drain, and a task refused as shutting_down is
# resent by concctl. Two clients run through the restart: one short task per connection, and
# batches of 20 concurrent tasks of 300 ms (so some are in flight when SIGTERM lands).
step="e2. systemctl restart concd during continuous submissions -> 0 failed"
in_box_t 30 systemctl start concd.socket concd.service 2>/dev/null
pid_before=$(prop concd MainPID)
in_box rm -f /run/e2e-load-*.out /run/e2e-load-*.err
load_script='
  out=$1; shift; ok=0; bad=0; end=$(( $(date +%s) + 8 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    if concctl submit "$@" >/dev/null 2>>"$out.err"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
  done
  echo "$ok $bad" > "$out.out"'
in_box_t 60 sh -c "$load_script" sh /run/e2e-load-single cpu 100000 &
single_pid=$!
in_box_t 60 sh -c "$load_script" sh /run/e2e-load-batch sleep 300 --count 20 &
batch_pid=$!
sleep 3
restart_output=$(in_box_t 60 systemctl restart concd.service 2>&1)
wait "$single_pid" "$batch_pid"
single=$(in_box cat /run/e2e-load-single.out 2>/dev/null); batch=$(in_box cat /run/e2e-load-batch.out 2>/dev/null)
pid_after=$(prop concd MainPID)
if [ -z "$single" ] || [ -z "$batch" ]; then
  fail "$step" "a load client did not finish (single='$single' batch='$batch')"
elif [ "$pid_after" = "$pid_before" ] || [ -z "$pid_after" ] || [ "$pid_after" = 0 ]; then
  fail "$step" "concd was not restarted (MainPID $pid_before -> $pid_after)${restart_output:+ ($restart_output)}"
elif [ "${single#* }" = 0 ] && [ "${batch#* }" = 0 ] && [ "${single% *}" -gt 0 ] && [ "${batch% *}" -gt 0 ]; then
  pass "$step" "MainPID $pid_before -> $pid_after; ${single% *} single submissions and ${batch% *} batches of 20 (ok failed: '$single', '$batch')"
else
  fail "$step" "ok/failed: single '$single', batch '$batch'; errors: $(in_box sh -c 'cat /run/e2e-load-*.err' 2>/dev/null | sort | uniq -c | head -5 | tr '\n' ' ')"
fi

# f. watchdog: a stopped daemon is restarted. concd.socket is stopped first so that this check
# does not depend on the outcome of the last one.
step="f. watchdog restarts a SIGSTOPped concd within 60 s"
in_box_t 30 systemctl stop concd.socket 2>/dev/null
printf '[Service]\nWatchdogSec=2s\n' | in_box sh -c "cat > $dropins/60-e2e-watchdog.conf"
in_box systemctl daemon-reload
restart_output=$(in_box_t 90 systemctl restart concd.service 2>&1)
pid=$(prop concd MainPID); restarts=$(prop concd NRestarts)
if [ "$(in_box systemctl is-active concd)" != active ] || [ -z "$pid" ] || [ "$pid" = 0 ]; then
  fail "$step" "concd did not start (is-active=$(in_box systemctl is-active concd), MainPID=$pid)${restart_output:+ ($restart_output)}"
else
  # First, concd must keep the watchdog fed while it is healthy: nothing may restart it for 6 s.
  sleep 6
  if [ "$(in_box systemctl is-active concd)" != active ] || [ "$(prop concd MainPID)" != "$pid" ] ||
     [ "$(prop concd NRestarts)" != "$restarts" ]; then
    fail "$step" "a healthy concd was restarted with WatchdogSec=2s (MainPID $pid -> $(prop concd MainPID), NRestarts $restarts -> $(prop concd NRestarts), Result=$(prop concd Result)): it does not send WATCHDOG=1 every WatchdogSec/2"
  else
    in_box kill -STOP "$pid"
    stopped_at=$SECONDS
    restarted() {
      local now
      now=$(prop concd MainPID)
      [ -n "$now" ] && [ "$now" != 0 ] && [ "$now" != "$pid" ] && [ "$(in_box systemctl is-active concd)" = active ]
    }
    if wait_for 60 restarted; then
      pass "$step" "MainPID $pid -> $(prop concd MainPID) after $((SECONDS - stopped_at)) s, NRestarts $restarts -> $(prop concd NRestarts)"
    else
      fail "$step" "60 s after SIGSTOP: MainPID $(prop concd MainPID), is-active $(in_box systemctl is-active concd), Result $(prop concd Result)"
      in_box kill -CONT "$pid" 2>/dev/null
    fi
  fi
fi
in_box rm -f "$dropins/60-e2e-watchdog.conf"
in_box systemctl daemon-reload

# h. a pool that runs the user's own program (a Python worker through the installed concd_worker
# module), declared in the installed configuration file: started with concd, called by name, its
# output in the journal with the worker's fields. The original configuration comes back after.
step="h. a Python program's pool from $config: concctl submit e2epy add [2,40] -> 42, output in the journal"
if ! in_box test -x /usr/bin/python3; then
  fail "$step" "no /usr/bin/python3 in the box (CI installs python3)"
elif ! module=$(in_box sh -c 'ls /usr/local/share/concd/python/concd_worker.py 2>/dev/null') || [ -z "$module" ]; then
  fail "$step" "make install did not install share/concd/python/concd_worker.py"
else
  original=$(in_box cat "$config")
  in_box install -d -m 0755 /usr/local/lib/concd-e2e
  printf '%s\n' 'import concd_worker' '' '@concd_worker.task' 'def add(a, b):' '    return a + b' '' \
    'print("e2e worker ready", flush=True)' 'concd_worker.run()' |
    in_box sh -c 'cat > /usr/local/lib/concd-e2e/worker.py && chmod 0644 /usr/local/lib/concd-e2e/worker.py'
  printf '%s\n' 'pools:' '  process: {workers: 1}' '  e2epy:' '    model: process' '    workers: 2' \
    '    command: ["python3", "/usr/local/lib/concd-e2e/worker.py"]' \
    '    environment: {PYTHONPATH: /usr/local/share/concd/python}' | in_box sh -c "cat > $config"
  in_box_t 30 systemctl stop concd.socket 2>/dev/null
  restart_output=$(in_box_t 90 systemctl restart concd 2>&1)
  out=$(in_box_t 60 concctl submit e2epy add '[2, 40]' 2>&1)
  printed() { in_box journalctl --no-pager -u concd CONCD_EVENT=worker_output -o json 2>/dev/null | grep -q '"CONCD_POOL" *: *"e2epy"'; }
  if [ "$(echo "$out" | head -1 | awk '{print $1}')" = 42 ] && wait_for 10 printed; then
    pass "$step" "$(echo "$out" | head -1); $(in_box journalctl --no-pager -u concd CONCD_EVENT=worker_output -o cat -n 1 2>/dev/null)"
  else
    fail "$step" "got: $(echo "$out" | head -3 | tr '\n' ' ')${restart_output:+ ($restart_output)}; is-active=$(in_box systemctl is-active concd)"
  fi
  echo "$original" | in_box sh -c "cat > $config"
  in_box_t 90 systemctl restart concd 2>/dev/null
fi

# g. stop: a clean exit. concd.socket is stopped first, so that no queued connection starts
# concd again; concd is started if an earlier check left it stopped.
step="g. systemctl stop concd -> Result=success"
in_box_t 30 systemctl stop concd.socket 2>/dev/null
is_active() { [ "$(in_box systemctl is-active concd)" = active ]; }
wait_for 20 is_active || in_box_t 90 systemctl start concd 2>/dev/null
if ! is_active; then
  fail "$step" "concd is not running before the stop (is-active=$(in_box systemctl is-active concd))"
else
  stop_output=$(in_box_t 60 systemctl stop concd 2>&1)
  result=$(prop concd Result); state=$(in_box systemctl is-active concd)
  if [ "$result" = success ] && [ "$state" = inactive ]; then
    pass "$step" "is-active=$state, exit status $(prop concd ExecMainStatus)"
  else
    fail "$step" "Result=$result is-active=$state ExecMainCode=$(prop concd ExecMainCode) ExecMainStatus=$(prop concd ExecMainStatus)${stop_output:+ ($stop_output)}"
  fi
fi

# ------------------------------------------------------------------------------------------
if [ $failed -gt 0 ]; then
  echo "---- journalctl -u concd, last 40 lines (without libdispatch's thread-priority notices) ----"
  journal_tail 40 short-monotonic | sed 's/^/    /'
  echo "----"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
