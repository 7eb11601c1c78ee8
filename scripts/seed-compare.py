"""The seed's blocking and async GET programs against concd, side by side in one run on this machine.

    python3 scripts/seed-compare.py CONCCTL SOCKET CONCD_PID DELAY_URL SMALL_URL COUNT

The seed's programs, rewritten with the standard library (its `requests` and `aiohttp` are not
part of Python): one thread per URL doing a blocking GET with urllib, and asyncio with at most 100
connections at once (aiohttp's default limit), each GET on a connection of its own. concd runs
the same GETs as `concctl submit io URL --count N` (its thread pool, default settings) and
`concctl submit async URL --count N` (its async pool), timed by concctl (first submission sent to
last reply) as the seed's programs time themselves. DELAY_URL is loopback-http's 50 ms page;
SMALL_URL is `python3 -m http.server`'s, a small server with a listen backlog of 5.
Prints a Markdown table; exits 1 when a target of issue 14 is missed.
"""

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

concctl, socket_path, concd_pid, delay_url, small_url, count = sys.argv[1:7]
count = int(count)


def seed_threads(url):
    failures = []

    def get():
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                response.read()
        except Exception as error:  # noqa: BLE001 - every failure is counted, whatever its kind
            failures.append(error)

    start = time.perf_counter()
    threads = [threading.Thread(target=get) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, len(failures)


async def seed_asyncio_run(url, limit=100):
    parts = urllib.parse.urlsplit(url)
    request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode()
    gate = asyncio.Semaphore(limit)
    failures = 0

    async def get():
        nonlocal failures
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), 30)
                writer.write(request)
                response = await asyncio.wait_for(reader.read(), 30)
                writer.close()
                if not response.startswith(b"HTTP/1.") or b" 200 " not in response.split(b"\r\n", 1)[0]:
                    failures += 1
            except Exception:  # noqa: BLE001
                failures += 1

    start = time.perf_counter()
    await asyncio.gather(*(get() for _ in range(count)))
    return time.perf_counter() - start, failures


def seed_asyncio(url):
    return asyncio.run(seed_asyncio_run(url))


def concd(kind, url):
    # concctl's own wall time, first submission sent to last reply, as the seed's programs time
    # themselves from inside: neither side counts its interpreter's or client's start.
    done = subprocess.run(
        [concctl, "--socket", socket_path, "submit", kind, url, "--count", str(count), "--timeout", "60", "--json"],
        capture_output=True, text=True, check=False,
    )
    try:
        summary = json.loads(done.stdout)
        return summary["wall_us"] / 1e6, summary["failed"]
    except (ValueError, KeyError):
        sys.exit(f"concctl failed ({done.returncode}): {done.stderr.strip()}")


def resident_kib(field):
    with open(f"/proc/{concd_pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


idle_kib = resident_kib("VmRSS")
rows = []
missed = []


def compare(what, seed_name, seed, concd_kind, url, target):
    seed_seconds, seed_failures = seed(url)
    concd_seconds, concd_failures = concd(concd_kind, url)
    ratio = concd_seconds / seed_seconds
    rows.append((what, seed_name, seed_seconds, seed_failures, concd_seconds, concd_failures, ratio, target))
    if concd_failures or ratio > target:
        missed.append(what)


# A warm-up, so that neither side pays for its first connections and threads in the table.
concd("io", delay_url)
compare(f"{count} blocking GETs of a 50 ms page", "one thread per URL (urllib)", seed_threads, "io", delay_url, 0.8)
peak_kib = resident_kib("VmHWM")


def thread_pool():
    done = subprocess.run([concctl, "--socket", socket_path, "status", "--json"], capture_output=True, text=True, check=True)
    return next(pool for pool in json.loads(done.stdout)["pools"] if pool["kind"] == "thread")


# The burst is over: the thread pool should be back at its minimum within its idle time (10 s by
# default) plus 1 s.
burst_ended = time.perf_counter()
grown = thread_pool()["size"]
while thread_pool()["size"] > thread_pool()["min"] and time.perf_counter() - burst_ended < 30:
    time.sleep(0.1)
back_after = time.perf_counter() - burst_ended
minimum = thread_pool()["min"]
# The async pool opens its window to a server as the server keeps up (ConnectionWindow): the first
# burst to a server starts at 32 connections; the next finds the window it opened.
compare(f"{count} async GETs of a 50 ms page, first burst", "asyncio, 100 connections", seed_asyncio, "async", delay_url, 0.5)
compare(f"{count} async GETs of a 50 ms page, next burst", "asyncio, 100 connections", seed_asyncio, "async", delay_url, 0.5)
compare(f"{count} async GETs from python3 -m http.server", "asyncio, 100 connections", seed_asyncio, "async", small_url, 1.0)

print("| workload | seed's program | seed | concd | concd / seed (target) |")
print("|---|---|---|---|---|")
for what, name, seed_seconds, seed_failures, concd_seconds, concd_failures, ratio, target in rows:
    seed_text = f"{seed_seconds:.3f} s" + (f", {seed_failures} failed" if seed_failures else "")
    concd_text = f"{concd_seconds:.3f} s" + (f", **{concd_failures} failed**" if concd_failures else "")
    print(f"| {what} | {name} | {seed_text} | {concd_text} | {ratio:.2f}x (<= {target}x, 0 failed) |")
print()
print(f"concd's resident memory: {idle_kib / 1024:.1f} MiB idle before the runs, "
      f"{peak_kib / 1024:.1f} MiB at its largest during the blocking GETs (VmHWM)")
print(f"the thread pool grew to {grown} threads for the blocking GETs and was back at its minimum of {minimum} "
      f"{back_after:.1f} s after the burst (idle_timeout 10 s; target <= 11 s)")
if back_after > 11:
    missed.append("the thread pool's return to its minimum")
if missed:
    print("missed: " + "; ".join(missed))
    sys.exit(1)
