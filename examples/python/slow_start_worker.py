"""A worker whose start-up takes a second (think: importing a framework,
loading a model). concd pays it once per worker, before the pool is ready;
each call after that answers in milliseconds.

    pools:
      model:
        model: process
        command: ["python3", "examples/python/slow_start_worker.py"]
        environment: {PYTHONPATH: share/python, START_SECONDS: "1"}
"""

import os
import time

import concd_worker

time.sleep(float(os.environ.get("START_SECONDS", "1")))
TABLE = {word: len(word) for word in ("warm", "pools", "keep", "start-up", "off", "the", "path")}


@concd_worker.task
def lookup(word):
    """Looks a word up in the table built at start-up."""
    return TABLE.get(word)


if __name__ == "__main__":
    concd_worker.run()
