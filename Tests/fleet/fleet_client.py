#!/usr/bin/env python3
"""A small stdlib-only client of concd's control socket for the fleet scripts.

  fleet_client.py call SOCKET JSON
      one request; prints the reply line; exit 1 if the reply has "ok": false
  fleet_client.py submit --sockets A,B,... --count N --job JSON [--window W] [--connections C] [--ids FILE]
      N submissions of JSON (a request without "v"/"op"/"id", e.g. {"kind":"noop","durable":true,"detach":true}),
      pipelined: C connections per socket (default 1), at most W requests in flight on each (default 512),
      the N spread round-robin over all connections. Prints one JSON line:
      {"submitted":N,"ok":..,"failed":..,"errors":{code:count},"seconds":..,"first_id":..,"last_id":..}
      and, with --ids, writes "SOCKETINDEX JOBID" lines (one per accepted job) to FILE.
  fleet_client.py trickle SOCKET --count N --pause S --job JSON
      N submissions one at a time, each waiting for its reply, S seconds apart; prints the same summary.
"""
import json
import socket
import sys
import threading
import time


def connect(path, timeout=60.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def call(path, request, timeout=60.0):
    s = connect(path, timeout)
    try:
        s.sendall((json.dumps(request) + "\n").encode())
        f = s.makefile("rb")
        line = f.readline()
        if not line:
            raise RuntimeError("the daemon closed the connection without a reply")
        return json.loads(line)
    finally:
        s.close()


class Pipeline:
    """One connection with at most `window` requests in flight; replies are matched by "id"."""

    def __init__(self, path, window):
        self.sock = connect(path, 120.0)
        self.reader = self.sock.makefile("rb")
        self.window = threading.Semaphore(window)
        self.replies = []
        self.done = threading.Event()
        self.expected = 0
        self.error = None
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self):
        try:
            while len(self.replies) < self.expected:
                line = self.reader.readline()
                if not line:
                    raise RuntimeError("connection closed after %d of %d replies" % (len(self.replies), self.expected))
                self.replies.append(json.loads(line))
                self.window.release()
        except Exception as e:  # reported by the caller
            self.error = e
            # Let a blocked writer go on, so that it notices.
            for _ in range(1 << 16):
                self.window.release()
        finally:
            self.done.set()

    def run(self, requests):
        self.expected = len(requests)
        self.thread.start()
        buf = []
        for r in requests:
            if self.error:
                break
            self.window.acquire()
            buf.append((json.dumps(r) + "\n").encode())
            # Write in small bursts rather than one syscall per request.
            if len(buf) >= 32:
                self.sock.sendall(b"".join(buf))
                buf = []
        if buf and not self.error:
            self.sock.sendall(b"".join(buf))

    def wait(self):
        self.done.wait()
        self.sock.close()
        if self.error:
            raise self.error


def summarize(replies, submitted, seconds):
    ok = [r for r in replies if r.get("ok")]
    errors = {}
    for r in replies:
        if not r.get("ok"):
            code = (r.get("error") or {}).get("code", "?")
            errors[code] = errors.get(code, 0) + 1
    ids = [r["job_id"] for r in ok if "job_id" in r]
    return {
        "submitted": submitted, "ok": len(ok), "failed": submitted - len(ok), "errors": errors,
        "seconds": round(seconds, 3), "first_id": min(ids) if ids else None, "last_id": max(ids) if ids else None,
    }


def submit(args):
    sockets = args["sockets"].split(",")
    count = int(args["count"])
    job = json.loads(args["job"])
    window = int(args.get("window", 512))
    per_socket = int(args.get("connections", 1))
    pipes = []
    for i, path in enumerate(sockets):
        for _ in range(per_socket):
            pipes.append((i, Pipeline(path, window)))
    work = [[] for _ in pipes]
    for n in range(count):
        request = dict(job, v=1, op="submit", id=n)
        work[n % len(pipes)].append(request)
    started = time.monotonic()
    threads = []
    for (i, pipe), requests in zip(pipes, work):
        t = threading.Thread(target=pipe.run, args=(requests,), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    replies = []
    lines = []
    for i, pipe in pipes:
        pipe.wait()
        replies.extend(pipe.replies)
        lines.extend("%d %d" % (i, r["job_id"]) for r in pipe.replies if r.get("ok") and "job_id" in r)
    seconds = time.monotonic() - started
    if args.get("ids"):
        with open(args["ids"], "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))
    return summarize(replies, count, seconds)


def trickle(path, args):
    count = int(args["count"])
    pause = float(args.get("pause", 0.02))
    job = json.loads(args["job"])
    s = connect(path)
    f = s.makefile("rb")
    replies = []
    started = time.monotonic()
    for n in range(count):
        s.sendall((json.dumps(dict(job, v=1, op="submit", id=n)) + "\n").encode())
        replies.append(json.loads(f.readline()))
        time.sleep(pause)
    s.close()
    return summarize(replies, count, time.monotonic() - started)


def options(argv):
    out = {}
    i = 0
    while i < len(argv):
        if not argv[i].startswith("--") or i + 1 >= len(argv):
            sys.exit("fleet_client.py: bad argument %r (see the docstring)" % argv[i])
        out[argv[i][2:]] = argv[i + 1]
        i += 2
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    command = sys.argv[1]
    if command == "call" and len(sys.argv) == 4:
        reply = call(sys.argv[2], json.loads(sys.argv[3]))
        print(json.dumps(reply))
        return 0 if reply.get("ok") else 1
    if command == "submit":
        print(json.dumps(submit(options(sys.argv[2:]))))
        return 0
    if command == "trickle" and len(sys.argv) >= 3:
        print(json.dumps(trickle(sys.argv[2], options(sys.argv[3:]))))
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
