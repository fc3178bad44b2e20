"""`python -m bench --profile`: where ``triaged serve`` spends its time under ingest load.

Runs the ingest load (triaged only, the same servers and load as the ingest section)
and samples both serve processes with ``py-spy record --subprocesses --nonblocking``
(not a dependency: ``pip install py-spy`` into the venv; it needs ptrace rights, as
root or with ``kernel.yama.ptrace_scope=0``). Each load is sampled twice, on an
emptied Redis each time:

- every non-idle thread: on CPU, or in a system call, or *waiting to get the GIL
  back* after one (a socket write, ``os.urandom``): a function that shows high here
  but not below is mostly waiting for another thread of the same process;
- ``--gil``: only the thread holding the GIL, i.e. where the Python CPU time goes.

Prints, per load and way of sampling:

- which thread the busy time is in (the event loop or the outbox drain thread);
- the functions with the most *own* time (the leaf of the stack);
- the functions with the most *inclusive* time (anywhere on the stack).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench import ingest
from bench.common import family, log
from bench.loadgen import LoadRun, LoadSpec
from bench.payloads import BodySpec
from bench.procs import Processes

PHASES = ((10, "new"), (10, "repeat"), (1, "new"))
# frames that are on almost every stack and say nothing
_PLUMBING = (
    "<module>",
    "spawn_main",
    "_main (multiprocessing",
    "BaseProcess.",
    "run_app",
    "_serve_one",
    "run (asyncio/runners",
    "Runner.run",
    "run_until_complete",
    "run_forever",
    "_run_once",
    "Handle._run",
    "Thread._bootstrap",
    "Thread.run",
    "_worker (concurrent",
    "_WorkItem.run",
    "main (click",
    "invoke (click",
    "Command.",
    "Group.",
    "BaseCommand.",
    "serve (receiver/cli",
    "_run_module",
    "_run_code",
    "run (multiprocessing",
)


@dataclass
class Profile:
    label: str
    total: int = 0
    threads: Counter[str] = field(default_factory=Counter)
    own: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    callers: dict[str, Counter[str]] = field(default_factory=dict)  # leaf -> call paths
    alerts_per_s: float = 0.0


def _func(frame: str) -> str:
    """``name (path/file.py:123)`` -> ``name (path/file.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def parse_raw(text: str, label: str) -> Profile:
    prof = Profile(label)
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        prof.total += count
        thread = (
            "outbox drain thread"
            if any("concurrent/futures" in f for f in frames)
            else (
                "event loop"
                if any("run_forever" in f or "_run_once" in f for f in frames)
                else "other"
            )
        )
        prof.threads[thread] += count
        leaf = _func(frames[-1])
        prof.own[leaf] += count
        # the nearest frames of our own code (or RQ's) above the leaf: who is paying
        ours = [_func(f) for f in frames[:-1] if _is_ours(f)]
        path = " ← ".join(reversed(ours[-3:])) or "(library only)"
        prof.callers.setdefault(leaf, Counter())[path] += count
        for fn in {_func(f) for f in frames}:
            if not any(p in fn for p in _PLUMBING):
                prof.inclusive[fn] += count
    return prof


def _is_ours(frame: str) -> bool:
    return any(f"({pkg}/" in frame for pkg in ("receiver", "rules", "workers", "rq"))


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f} %" if total else "–"


def render(profiles: list[Profile], top: int = 20) -> str:
    lines = ["# Where triaged serve spends its time (py-spy, non-idle samples)", ""]
    for prof in profiles:
        lines += [
            f"## {prof.label}: {prof.alerts_per_s:,.0f} alerts/s while sampled, "
            f"{prof.total:,} samples",
            "",
            "Threads: "
            + ", ".join(f"{k} {_pct(v, prof.total)}" for k, v in prof.threads.most_common()),
            "",
            "| own time | function |",
            "|---|---|",
        ]
        lines += [f"| {_pct(n, prof.total)} | `{fn}` |" for fn, n in prof.own.most_common(top)]
        lines += ["", "Who pays for the top own-time functions (nearest triaged/RQ frames):", ""]
        for fn, _ in prof.own.most_common(8):
            paths = prof.callers.get(fn, Counter()).most_common(2)
            shown = "; ".join(f"{p} ({_pct(n, prof.total)})" for p, n in paths)
            lines.append(f"- `{fn}`: {shown}")
        lines += ["", "| inclusive | function |", "|---|---|"]
        lines += [
            f"| {_pct(n, prof.total)} | `{fn}` |" for fn, n in prof.inclusive.most_common(top + 10)
        ]
        lines.append("")
    return "\n".join(lines)


def _py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def _record(
    spy: str,
    servers: ingest.IngestServers,
    size: int,
    mode: str,
    duration: float,
    gil: bool,
    workdir: Path,
) -> Profile | None:
    spec = LoadSpec(
        port=servers.triaged_port,
        path=ingest.PATH,
        body=BodySpec("ingest", size, mode),
        connections=8,
        warmup_s=1.0,
        duration_s=duration + 1.0,
        processes=2,
    )
    what = "holding the GIL" if gil else "on CPU or waiting for the GIL"
    out = workdir / f"spy-{size}-{mode}-{'gil' if gil else 'all'}.txt"
    log(f"profile: {size} alert(s)/request, {mode}, {duration:g} s, samples {what}")
    command = [
        spy,
        "record",
        "--pid",
        str(servers.triaged_pid),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        "200",
        "--duration",
        str(int(duration)),
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    if gil:
        command.append("--gil")
    with LoadRun(spec) as run:
        time.sleep(max(0.0, run.start_at + spec.warmup_s - time.monotonic()))
        spied = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
        result = run.wait()
    if spied.returncode != 0 or not out.exists():
        print(spied.stdout + spied.stderr, file=sys.stderr)
        return None
    prof = parse_raw(out.read_text(), f"{size} alert(s)/request, {mode}; samples {what}")
    prof.alerts_per_s = result.alerts_per_s
    return prof


def main(args: argparse.Namespace) -> int:
    spy = _py_spy()
    if spy is None:
        print("py-spy not found: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    duration = args.duration or (3.0 if args.quick else 8.0)
    workdir = Path(tempfile.mkdtemp(prefix="triaged-profile-"))
    profiles: list[Profile] = []
    try:
        with Processes() as procs:
            servers = ingest.start_servers(procs, workdir)
            client = redis.Redis.from_url(servers.redis_url, decode_responses=True)
            for size, mode in PHASES:
                for gil in (False, True):
                    ingest.fresh_redis(client)
                    ingest.wait_idle([*family(servers.triaged_pid), servers.redis_pid])
                    prof = _record(spy, servers, size, mode, duration, gil, workdir)
                    if prof is None:
                        return 2
                    profiles.append(prof)
            client.close()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = render(profiles)
    print(text)
    if args.output is not None:
        args.output.write_text(text)
    return 0
