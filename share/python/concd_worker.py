"""Run your own Python functions on concd's warm process pools.

A worker program registers functions and calls run(); concd starts it N times,
waits until each has said it is ready (after your imports and start-up), and
sends it calls. The protocol (docs/worker-protocol.md) runs on the descriptor
named in CONCD_WORKER_FD, not on stdout, so print() in your code is harmless:
its output goes where concd's goes (the journal, under systemd).

    import concd_worker

    @concd_worker.task
    def resize(path, width=320):
        ...
        return {"path": out}

    if __name__ == "__main__":
        concd_worker.run()

Arguments: a JSON object is passed as keyword arguments, an array as
positional ones, null as none, anything else as the one argument. The return
value must be JSON-serialisable. An exception goes back to the caller as
task_failed with its type, message and traceback; the worker keeps running.

Standard library only.
"""

import json
import os
import socket
import sys
import traceback

PROTOCOL = 1
"""The version of the worker protocol this module speaks."""

_functions = {}


def task(function=None, *, name=None):
    """Registers a function under its own name (or `name`) so calls can reach it."""

    def register(f):
        _functions[name or f.__name__] = f
        return f

    return register(function) if function is not None else register


def functions():
    """The names of the registered functions."""
    return sorted(_functions)


class UnknownFunction(LookupError):
    """A call named a function this worker does not have."""


def _call(message):
    name = message.get("fn")
    function = _functions.get(name)
    if function is None:
        raise UnknownFunction(
            "this worker has no function %r; it has: %s" % (name, ", ".join(functions()) or "none")
        )
    arguments = message.get("args")
    if isinstance(arguments, dict):
        return function(**arguments)
    if isinstance(arguments, list):
        return function(*arguments)
    if arguments is None:
        return function()
    return function(arguments)


def _answer(identifier, message):
    try:
        result = _call(message)
        return json.dumps({"id": identifier, "ok": True, "result": result}, separators=(",", ":"))
    except Exception as error:  # the caller gets it; the worker lives on
        return json.dumps(
            {
                "id": identifier,
                "ok": False,
                "error": {
                    "type": type(error).__name__,
                    "message": str(error),
                    "traceback": traceback.format_exc(),
                },
            },
            separators=(",", ":"),
        )


def run(table=None):
    """Serves calls until concd closes the channel. `table` ({name: function})
    adds functions besides those registered with @task."""
    if table:
        _functions.update(table)
    try:
        descriptor = int(os.environ["CONCD_WORKER_FD"])
    except (KeyError, ValueError):
        sys.exit("concd_worker: CONCD_WORKER_FD is not set; this program is meant to be started by concd")
    channel = socket.socket(fileno=descriptor)
    lines = channel.makefile("rb", buffering=65536)
    ready = {"ready": True, "protocol": PROTOCOL, "functions": functions(), "pid": os.getpid()}
    channel.sendall(json.dumps(ready, separators=(",", ":")).encode() + b"\n")
    for line in lines:
        message = json.loads(line)
        reply = _answer(message.get("id"), message)
        channel.sendall(reply.encode() + b"\n")
