"""Submit calls to concd from Python: standard library only.

    from concd_client import Client, TaskFailed

    with Client() as concd:                      # $CONCD_SOCKET, else /run/concd/concd.sock
        print(concd.call("thumbnails", "resize", {"path": "a.png"}))
        results = concd.map("seed", "cpu_bound_task", [[10**6]] * 100)   # pipelined

Errors are typed: TaskFailed (the function raised; .type and .traceback say
what and where), and ConcdError for concd's own codes (.code: "busy",
"timeout", "worker_died", "unsupported_pool", ...; docs/protocol.md).
One Client is one connection; it is not for use from several threads at once.
"""

import json
import os
import socket


class ConcdError(Exception):
    """concd refused or could not run the task; `code` is its error code."""

    def __init__(self, code, message):
        super().__init__("%s [%s]" % (message, code))
        self.code = code
        self.message = message


class TaskFailed(ConcdError):
    """The function raised an error in the worker."""

    def __init__(self, message, type_name, traceback):
        super().__init__("task_failed", message)
        self.type = type_name
        self.traceback = traceback


def _raise_for(reply):
    error = reply.get("error") or {}
    code = error.get("code", "internal")
    message = error.get("message", "the task failed")
    if code == "task_failed":
        raise TaskFailed(message, error.get("type"), error.get("traceback"))
    raise ConcdError(code, message)


class Client:
    """One connection to concd's control socket."""

    def __init__(self, path=None, timeout=None):
        self.path = path or os.environ.get("CONCD_SOCKET", "/run/concd/concd.sock")
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.settimeout(timeout)
        self._socket.connect(self.path)
        self._lines = self._socket.makefile("rb", buffering=65536)
        self._next = 0

    def close(self):
        self._lines.close()
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, pool, function, arguments, timeout_ms):
        self._next += 1
        request = {"v": 1, "id": self._next, "op": "submit", "pool": pool, "fn": function, "args": arguments}
        if timeout_ms is not None:
            request["timeout_ms"] = timeout_ms
        return self._next, json.dumps(request, separators=(",", ":")).encode() + b"\n"

    def _read(self):
        line = self._lines.readline()
        if not line:
            raise ConnectionError("concd closed the connection")
        return json.loads(line)

    def call(self, pool, function, arguments=None, timeout=None):
        """Runs `function` of pool `pool`'s program with `arguments` and returns what it returned."""
        identifier, frame = self._request(pool, function, arguments, None if timeout is None else max(1, int(timeout * 1000)))
        self._socket.sendall(frame)
        reply = self._read()
        if reply.get("id") != identifier:
            raise ConcdError("protocol", "a reply for another request: %r" % reply)
        if not reply.get("ok"):
            _raise_for(reply)
        return reply.get("value")

    def map(self, pool, function, argument_list, window=256, timeout=None):
        """Calls `function` once per item of `argument_list`, up to `window` in flight on this
        connection, and returns the results in order (raising the first error, in order)."""
        argument_list = list(argument_list)
        timeout_ms = None if timeout is None else max(1, int(timeout * 1000))
        replies = {}
        order = []
        sent = 0
        while len(replies) < len(argument_list):
            batch = []
            while sent < len(argument_list) and sent - len(replies) < window:
                identifier, frame = self._request(pool, function, argument_list[sent], timeout_ms)
                order.append(identifier)
                batch.append(frame)
                sent += 1
            if batch:
                self._socket.sendall(b"".join(batch))
            reply = self._read()
            replies[reply.get("id")] = reply
        results = []
        for identifier in order:
            reply = replies[identifier]
            if not reply.get("ok"):
                _raise_for(reply)
            results.append(reply.get("value"))
        return results
