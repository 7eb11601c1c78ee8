#!/usr/bin/env bash
# The main job, end to end: start concd in the foreground on a private socket, run the three
# classic workloads through concctl against a loopback HTTP server, print what each took, stop.
set -euo pipefail
bin=${BIN:-.build/release}
work=$(mktemp -d /tmp/concd-demo-XXXXXX)
socket=$work/concd.sock
concd_pid="" http_pid=""
cleanup() {
    [ -n "$concd_pid" ] && kill -TERM "$concd_pid" 2>/dev/null && wait "$concd_pid" 2>/dev/null || true
    [ -n "$http_pid" ] && kill "$http_pid" 2>/dev/null && wait "$http_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/loopback-http" > "$work/http.url" &
http_pid=$!
for _ in $(seq 100); do [ -s "$work/http.url" ] && break; sleep 0.05; done
url=$(head -1 "$work/http.url")

# Two pools that run Python programs of the user's (examples/python): the seed's cpu_bound_task,
# and a worker whose start-up takes a second, paid once per worker before concd says it is ready;
# and the same cpu_bound_task as a Swift program (Sources/seed-worker-swift, on ConcWorker).
repository=$(pwd)
cat > "$work/concd.yaml" <<YAML
pools:
  seed:
    model: process
    workers: 2
    command: ["python3", "$repository/examples/python/seed_worker.py"]
    environment: {PYTHONPATH: $repository/share/python}
  model:
    model: process
    workers: 2
    command: ["python3", "$repository/examples/python/slow_start_worker.py"]
    environment: {PYTHONPATH: $repository/share/python, START_SECONDS: "1"}
  seed-swift:
    model: process
    workers: 1
    command: ["$(cd "$bin" && pwd)/seed-worker-swift"]
YAML

"$bin/concd" --socket "$socket" --config "$work/concd.yaml" 2> "$work/concd.log" &
concd_pid=$!
for _ in $(seq 200); do "$bin/concctl" --socket "$socket" ping >/dev/null 2>&1 && break; sleep 0.05; done

ctl() { echo; echo "\$ concctl $*"; "$bin/concctl" --socket "$socket" "$@"; }
echo "concd is up on $socket, a loopback HTTP server on $url"
ctl status
echo; echo "== CPU-bound: count += i for i in 0..<10^7, four times =="
ctl submit cpu 10000000
ctl submit cpu 10000000 --count 4
ctl submit cpu 10000000 --count 4 --pool thread
ctl submit cpu 10000000 --count 4 --pool async
echo; echo "== blocking I/O: HTTP GETs that each wait 100 ms on the server =="
ctl submit io "$url/delay/100" --count 8
ctl submit io "$url/delay/100" --count 8 --pool process
echo; echo "== async I/O: 1000 concurrent HTTP GETs that each wait 100 ms =="
ctl submit async "$url/delay/100" --count 1000
echo; echo "== side by side: one workload on every pool that can run it (concctl compare --plot FILE.svg draws it) =="
ctl compare cpu 10000000 --count 4
ctl compare io "$url/delay/100" --count 8
ctl compare sleep 100 --count 8
echo; echo "== your own code: Python workers kept warm (examples/python, share/python/concd_worker.py) =="
ctl submit seed cpu_bound_task '[1000000]'
ctl submit seed cpu_bound_task '{"number": 1000000}' --count 8
echo; echo "# the model pool's workers each slept 1 s at start-up; concd waited for them once, so a call answers in milliseconds:"
ctl submit model lookup '"warm"'
echo; echo "# the same function in Swift (ConcWorker), same protocol:"
ctl submit seed-swift cpu_bound_task '{"number": 1000000}'
echo; echo "# what the function raises comes back with its type and traceback (exit status 1), and the worker lives on:"
ctl submit seed cpu_bound_task '"ten"' || true
echo; echo "== any program: a command on a parked thread of the thread pool (no shell unless --shell), its exit status passed through =="
ctl submit exec -- uname -sr
ctl submit exec --shell 'ls /usr/bin | wc -l'
echo "# a deadline kills the command's whole process group:"
ctl submit exec --timeout 0.5 --shell 'sleep 30 & sleep 30' || echo "(concctl exited $?: timeout)"
echo; echo "== crash isolation: a worker is SIGKILLed under its task; only that task notices, and --retries runs it again =="
"$bin/concctl" --socket "$socket" submit sleep 1500 --pool process --retries 1 > "$work/retried.out" 2>&1 &
submit_pid=$!
victim=""
for _ in $(seq 100); do
    victim=$("$bin/concctl" --socket "$socket" status --json |
        grep -o '"busy":true,"name":"process-[0-9]*","pid":[0-9]*' | head -1 | grep -o '[0-9]*$' || true)
    [ -n "$victim" ] && break
    sleep 0.02
done
ctl kill-worker "$victim"
wait "$submit_pid" || true
echo "\$ concctl submit sleep 1500 --pool process --retries 1    # (started before the kill)"
cat "$work/retried.out"
ctl submit cpu 1000 --count 4 --pool process
ctl status
echo; echo "\$ concctl metrics | grep _total    # Prometheus text; concd --metrics-listen HOST:PORT serves it over HTTP"
"$bin/concctl" --socket "$socket" metrics | grep _total
echo; echo "stopping concd (SIGTERM)"
kill -TERM "$concd_pid"; wait "$concd_pid"; concd_pid=""
echo "concd exited cleanly; its log:"
cat "$work/concd.log"
