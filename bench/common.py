"""Small shared helpers: paths, ports, waiting, percentiles, CPU accounting, rules."""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psutil

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def triaged_executable() -> str:
    """The ``triaged`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "triaged"
    if not script.exists():
        raise FileNotFoundError(f"{script} not found: install the project (make install)")
    return str(script)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TRIAGED_API_TOKEN")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def http_json(method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value: T | None = predicate()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def wait_http_ok(url: str, timeout: float, alive: Callable[[], bool] | None = None) -> None:
    def ok() -> bool:
        if alive is not None and not alive():
            raise RuntimeError(f"process died before {url} answered 200")
        try:
            return http_json("GET", url, timeout=1.0)[0] == 200
        except OSError:
            return False

    wait_until(ok, timeout, f"200 from {url}")


def listeners(root_pid: int, port: int) -> set[int]:
    """PIDs among ``root_pid``'s descendants listening on ``port``."""
    found: set[int] = set()
    try:
        procs = psutil.Process(root_pid).children(recursive=True)
    except psutil.Error:
        return found
    for p in procs:
        try:
            for conn in p.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
                    found.add(p.pid)
        except psutil.Error:
            pass
    return found


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def cpu_seconds(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def family(root_pid: int) -> list[int]:
    """``root_pid`` and its descendants now."""
    try:
        root = psutil.Process(root_pid)
        return [root_pid] + [c.pid for c in root.children(recursive=True)]
    except psutil.Error:
        return []


def rss_mib(pid: int) -> float:
    try:
        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except psutil.Error:
        return math.nan


def cmdline(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


# -- the rules every section uses ------------------------------------------------


def write_rules(directory: Path, recorder_port: int) -> Path:
    """A rules directory: a few rules that never match (classification is not free),
    then one rule per ``bench`` label value.

    - ``page``: SEV-1, one http probe answering 200 at once, one step -> ``oncall``;
    - ``escalate``: SEV-2, steps now -> ``esc-a``, ``after: 2s`` -> ``esc-b``,
      ``after: 2s`` -> ``esc-c``;
    - ``storm``: SEV-1 like ``page``; ``ingest``: SEV-1 with the probe (no workers run
      in the ingest section); ``background``: SEV-4 (recorded, never paged).
    """
    directory.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{recorder_port}"
    contacts = "".join(
        f"  {name}:\n    role: bench {name}\n    channels: [{{webhook: '{base}/page/{name}'}}]\n"
        for name in ("oncall", "esc-a", "esc-b", "esc-c")
    )
    (directory / "contacts.yaml").write_text(
        "contacts:\n" + contacts + "escalation:\n"
        "  SEV-1:\n    - notify: [oncall]\n"
        "  SEV-2:\n"
        "    - notify: [esc-a]\n"
        "    - {after: 2s, notify: [esc-b]}\n"
        "    - {after: 2s, notify: [esc-c]}\n"
        "  SEV-3:\n    - notify: [oncall]\n"
    )
    fillers = [
        ('service =~ "payments-.*"', 'alertname = "HighLatency"', "SEV-2"),
        ('service = "search"', 'alertname =~ "Index.*"', "SEV-3"),
        ('namespace = "staging"', 'severity = "critical"', "SEV-3"),
        ('alertname = "Watchdog"', 'severity != "critical"', "SEV-4"),
        ('service =~ "db-.*"', 'alertname =~ "Replication.*|DiskFull"', "SEV-1"),
        ('job = "blackbox"', 'alertname = "ProbeFailed"', "SEV-2"),
    ]
    lines = [
        "probes:",
        f"  instant: {{http: {{url: '{base}/probe', expect_status: 200, timeout: 2s}}}}",
        "rules:",
    ]
    for i, (a, b, sev) in enumerate(fillers):
        lines += [f"  - name: filler-{i}", f"    matchers: ['{a}', '{b}']", f"    severity: {sev}"]
    for name, sev, probes in (
        ("page", "SEV-1", True),
        ("escalate", "SEV-2", False),
        ("storm", "SEV-1", True),
        ("ingest", "SEV-1", True),
        ("background", "SEV-4", False),
    ):
        lines += [
            f"  - name: bench-{name}",
            f"    matchers: ['alertname = \"BenchAlert\"', 'bench = \"{name}\"']",
            f"    severity: {sev}",
        ]
        if probes:
            lines.append("    probes: [instant]")
    (directory / "rules.yaml").write_text("\n".join(lines) + "\n")
    return directory
