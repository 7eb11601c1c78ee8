"""concd's Python worker pool against concurrent.futures.ProcessPoolExecutor, same number of
processes, same functions (examples/python/seed_worker.py), in one run on this machine.

    python3 scripts/python-compare.py SOCKET WORKERS

SOCKET is a concd whose pool `seed` runs seed_worker.py with WORKERS workers and whose pool `model`
runs slow_start_worker.py (scripts/python-compare.sh starts one). Prints a Markdown table.
"""

import concurrent.futures
import os
import statistics
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(here, "..", "share", "python"), os.path.join(here, "..", "examples", "python")]

from concd_client import Client  # noqa: E402
import seed_worker  # noqa: E402

socket_path, workers = sys.argv[1], int(sys.argv[2])
ROUND_TRIPS = 3000
PIPELINED = 20000
CPU_TASKS = 8 * workers


def p50(samples):
    return statistics.median(samples) * 1e6


def timed(call, count):
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def slow_start():
    time.sleep(1)


rows = []
with concurrent.futures.ProcessPoolExecutor(workers) as executor:
    executor.submit(seed_worker.noop).result()  # its processes exist from here on
    executor_rt = p50(timed(lambda: executor.submit(seed_worker.noop).result(), ROUND_TRIPS))
    start = time.perf_counter()
    futures = [executor.submit(seed_worker.noop) for _ in range(PIPELINED)]
    for future in futures:
        future.result()
    executor_rate = PIPELINED / (time.perf_counter() - start)
    start = time.perf_counter()
    list(executor.map(seed_worker.cpu_bound_task, [10**6] * CPU_TASKS))
    executor_cpu = CPU_TASKS / (time.perf_counter() - start)

with Client(socket_path) as concd:
    concd.call("seed", "noop")
    concd_rt = p50(timed(lambda: concd.call("seed", "noop"), ROUND_TRIPS))
    start = time.perf_counter()
    concd.map("seed", "noop", [None] * PIPELINED, window=256)
    concd_rate = PIPELINED / (time.perf_counter() - start)
    start = time.perf_counter()
    concd.map("seed", "cpu_bound_task", [[10**6]] * CPU_TASKS, window=256)
    concd_cpu = CPU_TASKS / (time.perf_counter() - start)
    start = time.perf_counter()
    concd.call("model", "lookup", "warm")
    concd_first = (time.perf_counter() - start) * 1e3

# A pool whose processes each take 1 s to start, created when the work arrives, as a script would.
start = time.perf_counter()
with concurrent.futures.ProcessPoolExecutor(workers, initializer=slow_start) as executor:
    executor.submit(seed_worker.noop).result()
    executor_first = (time.perf_counter() - start) * 1e3

print("| measure (%d processes each) | ProcessPoolExecutor | concd (Python worker) | concd / executor |" % workers)
print("|---|---|---|---|")
print("| no-op round trip p50 | %.0f µs | %.0f µs | %.2f× |" % (executor_rt, concd_rt, concd_rt / executor_rt))
print("| no-op pipelined throughput | %.0f /s | %.0f /s | %.2f× |" % (executor_rate, concd_rate, concd_rate / executor_rate))
print("| cpu_bound_task(10**6) throughput | %.1f /s | %.1f /s | %.2f× |" % (executor_cpu, concd_cpu, concd_cpu / executor_cpu))
print("| first answer, 1 s start-up per worker | %.0f ms | %.1f ms | %.3f× |" % (executor_first, concd_first, concd_first / executor_first))
