"""Is the benchmark alone on the machine? CPU used by everything vs by our process tree.

Ours is the benchmark process and every descendant: live processes count their own
CPU time, and each live process also carries the CPU time of the children it has
already reaped (``children_user``/``children_system``), so a short-lived RQ work horse
or load generator is still counted after it exits. Everything else the machine did
in the meantime ("other") is someone else's load: on a shared 2-core machine, a
test suite running next door shows up here, and the ingest rows retry when it does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil


def _machine_busy() -> float:
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0))


def _ours() -> float:
    total = 0.0
    try:
        me = psutil.Process(os.getpid())
        procs = [me, *me.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


@dataclass
class Snapshot:
    at: float
    machine: float
    ours: float


@dataclass
class Usage:
    seconds: float
    machine: float  # cores busy, machine-wide
    ours: float  # cores used by the benchmark's process tree

    @property
    def other(self) -> float:
        return max(0.0, self.machine - self.ours)


def snapshot() -> Snapshot:
    return Snapshot(time.monotonic(), _machine_busy(), _ours())


def since(start: Snapshot) -> Usage:
    end = snapshot()
    wall = max(1e-6, end.at - start.at)
    return Usage(wall, (end.machine - start.machine) / wall, (end.ours - start.ours) / wall)


def wait_quiet(max_other: float, timeout: float, sample_s: float = 1.0) -> Usage:
    """Wait (at most ``timeout``) until others use under ``max_other`` cores over
    ``sample_s``; return the last sample either way."""
    deadline = time.monotonic() + timeout
    while True:
        start = snapshot()
        time.sleep(sample_s)
        usage = since(start)
        if usage.other < max_other or time.monotonic() >= deadline:
            return usage
