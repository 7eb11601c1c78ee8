# Callgrind helpers shared by scripts/instructions.sh and scripts/fleet-instructions.sh (sourced).

# callgrind_batch DAEMON OUT NAME COMMAND...: zeroes the counters of DAEMON (a pid running under
# callgrind with --callgrind-out-file=OUT/callgrind.out.%p), runs COMMAND, dumps the counters as
# OUT/callgrind.out.NAME and prints the instructions they hold. Each dump is renamed at once, so
# the daemon's numbered dump file is the only one there.
callgrind_batch() {
    local daemon=$1 out=$2 name=$3 file=''
    shift 3
    callgrind_control -z "$daemon" >/dev/null 2>&1
    "$@"
    callgrind_control -d "$name" "$daemon" >/dev/null 2>&1
    for _ in $(seq 1 100); do
        file=$(compgen -G "$out/callgrind.out.$daemon.*" || true)
        [ -n "$file" ] && grep -q '^totals:' "$file" && break
        sleep 0.1
    done
    mv "$file" "$out/callgrind.out.$name"
    awk '/^totals:/ { print $2 }' "$out/callgrind.out.$name"
}
