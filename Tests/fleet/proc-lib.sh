# Process helpers shared by Tests/fleet/fleet-e2e.sh and scripts/fleet-bench.sh (sourced).

# Whether pid $1 runs; a zombie counts as gone (nobody may reap it in a container without init).
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.Z' "/proc/$1/status" 2>/dev/null; }

# Stops pid $1: SIGTERM, up to 5 s, then SIGKILL and up to 3 s more.
stop_pid() {
    local pid=$1 waited=0
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    while alive "$pid" && [ $waited -lt 50 ]; do sleep 0.1; waited=$((waited + 1)); done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    waited=0
    while alive "$pid" && [ $waited -lt 30 ]; do sleep 0.1; waited=$((waited + 1)); done
    return 0
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}
