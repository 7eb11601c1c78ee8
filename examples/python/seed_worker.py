"""The seed article's CPU-bound task, kept warm by concd.

In concd.yaml:

    pools:
      seed:
        model: process
        command: ["python3", "examples/python/seed_worker.py"]
        environment: {PYTHONPATH: share/python}

Then: concctl submit seed cpu_bound_task '[1000000]'
"""

import concd_worker


@concd_worker.task
def cpu_bound_task(number):
    """The seed's function: the sum of the squares below `number`."""
    return sum(i * i for i in range(number))


@concd_worker.task
def noop():
    """Nothing: what a call costs on its own."""
    return None


if __name__ == "__main__":
    concd_worker.run()
