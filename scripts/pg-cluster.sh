#!/usr/bin/env bash
# A private, throw-away PostgreSQL 15 cluster for tests and scripts; never touches any other cluster.
#
#   scripts/pg-cluster.sh start DIR [--listen ADDR] [--port N] [--netns NAME]
#       initdb into DIR/data (DIR absent or empty), start it, create role and database `concd`,
#       wait until ready; prints PGURL=... and PGPORT=... (for eval), writes DIR/port.
#       ADDR '' (default) = Unix socket DIR/socket only. --netns: the server runs in that namespace.
#   scripts/pg-cluster.sh stop DIR        stop it (immediate) and remove DIR; safe to call twice
#   scripts/pg-cluster.sh psql DIR [ARGS] psql as role concd over the Unix socket
#
# Needs root (the server runs as user postgres through runuser). Exit 2: cannot run here.
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
marker=pg-cluster.marker

die() { echo "pg-cluster: $1" >&2; exit "${2:-1}"; }
as_postgres() { runuser -u postgres -- "$@"; }
usage() { die "usage: $0 start DIR [--listen ADDR] [--port N] [--netns NAME] | stop DIR | psql DIR [ARGS]" 64; }

port_in_use() {
    local -a in=()
    [ -n "$netns" ] && in=(ip netns exec "$netns")
    [ -n "$("${in[@]}" ss -Hltn "sport = :$1")" ]
}

start() {
    listen='' port='' netns=''
    while [ $# -gt 0 ]; do
        case $1 in
            --listen) listen=${2?--listen needs an address}; shift 2 ;;
            --port) port=${2?--port needs a number}; shift 2 ;;
            --netns) netns=${2?--netns needs a name}; shift 2 ;;
            *) usage ;;
        esac
    done
    [ "$(id -u)" -eq 0 ] || die "needs root (runs the server as user postgres with runuser)" 2
    cd /  # user postgres may not enter the caller's directory
    getent passwd postgres >/dev/null || die "there is no 'postgres' user (install the postgresql package)" 2
    [ -x $bin/initdb ] || die "$bin/initdb is missing (install the postgresql package, PostgreSQL 15)" 2
    [ -z "$netns" ] || [ -e "/run/netns/$netns" ] || die "no network namespace '$netns'" 2
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then die "$dir is not empty"; fi

    if [ -z "$port" ]; then
        port=$((20000 + RANDOM % 20000))
        while port_in_use "$port"; do port=$((20000 + RANDOM % 20000)); done
    fi
    # The server's socket file is DIR/socket/.s.PGSQL.PORT, and sun_path holds 107 bytes.
    [ ${#dir} -le 80 ] || die "$dir is too long for a Unix socket path"

    mkdir -p "$dir"
    touch "$dir/$marker"
    mkdir -p "$dir/socket"
    chown -R postgres: "$dir"
    chmod 755 "$dir" "$dir/socket"
    as_postgres test -w "$dir" || die "user postgres cannot write $dir (is a parent directory closed to it?)"
    echo "$port" >"$dir/port"

    # --no-sync: a crash during initdb of a throw-away cluster loses nothing; the server runs with fsync on.
    as_postgres $bin/initdb --no-sync -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log"
    # Trust everyone who can reach it: a throw-away test cluster on a Unix socket, loopback or a
    # private namespace network, with nothing worth a password.
    cat >"$dir/data/pg_hba.conf" <<'EOF'
local all all              trust
host  all all 127.0.0.1/32 trust
host  all all 10.0.0.0/8   trust
EOF
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '$listen'
port = $port
unix_socket_directories = '$dir/socket'
fsync = on
max_connections = 200
shared_buffers = 128MB
EOF

    local -a in=()
    [ -n "$netns" ] && in=(ip netns exec "$netns")
    # A start that fails after this leaves no server running; DIR stays, with the log, for stop.
    trap '[ $? -eq 0 ] || stop_server' EXIT
    # The log file, not our stdout, becomes the server's output, so that $(...) around us returns.
    # The server inherits nothing else the caller had open: a test runner's hundreds of descriptors
    # count against the server's max_files_per_process (it refused to start, "insufficient file
    # descriptors", in a parallel test run), and it would keep the caller's sockets open for as long
    # as it runs.
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec "${in[@]}" runuser -u postgres -- $bin/pg_ctl -s -D "$dir/data" -l "$dir/log" -w -t 30 start </dev/null
    ) || { tail -n 20 "$dir/log" >&2 || true; die "the server did not start (log: $dir/log)"; }
    local waited=0
    until $bin/pg_isready -q -h "$dir/socket" -p "$port"; do
        [ $waited -lt 300 ] || die "not ready after 30 s (log: $dir/log)"
        sleep 0.1
        waited=$((waited + 1))
    done
    # The owner of a database may CREATE in it, and on PostgreSQL 15 in its public schema too.
    $bin/psql -X -q -v ON_ERROR_STOP=1 -h "$dir/socket" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE concd LOGIN" -c "CREATE DATABASE concd OWNER concd"
    trap - EXIT
    watch_owner
}

# The process that ran `start` owns the cluster. Its normal way out runs `stop`; a crash (a test
# runner dying on a signal) skips its clean-up, so a detached watcher stops the cluster once the
# owner is gone, and exits by itself once the directory is gone.
watch_owner() {
    local owner=$PPID
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec </dev/null >/dev/null 2>&1
        while [ -d "$dir" ] && kill -0 "$owner" 2>/dev/null; do sleep 1; done
        if [ -d "$dir" ]; then cd / && stop; fi
    ) &
    disown
}

# pg_ctl stop -m immediate; if that fails, SIGKILL to the pid in postmaster.pid, if it is still ours.
stop_server() {
    [ -e "$dir/data/postmaster.pid" ] || return 0
    as_postgres $bin/pg_ctl -s -D "$dir/data" -m immediate -w -t 30 stop </dev/null >&2 && return 0
    local pid waited=0
    pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
    # A recycled pid belongs to a process with another command line.
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-D $dir/data" || return 0
    kill -KILL "$pid" || true
    # A zombie counts as gone: in a container nobody may reap it.
    while [ $waited -lt 100 ] && [ -e "/proc/$pid" ] && ! grep -q '^State:.Z' "/proc/$pid/status" 2>/dev/null; do
        sleep 0.1
        waited=$((waited + 1))
    done
}

stop() {
    [ -d "$dir" ] || return 0
    [ -e "$dir/$marker" ] || die "$dir was not made by $0; not removing it"
    stop_server
    rm -rf "$dir"
}

[ $# -ge 2 ] || usage
command=$1
dir=$(realpath -m "$2")
shift 2
case $command in
    start)
        start "$@" >&2
        if [ -n "$listen" ]; then
            echo "PGURL=postgres://concd@$listen:$port/concd"
        else
            echo "PGURL=postgres://concd@localhost:$port/concd?host=$dir/socket"
        fi
        echo "PGPORT=$port"
        ;;
    stop) [ $# -eq 0 ] || usage; cd /; stop ;;
    psql) exec $bin/psql -X -h "$dir/socket" -p "$(cat "$dir/port")" -U concd -d concd "$@" ;;
    *) usage ;;
esac
