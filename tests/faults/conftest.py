"""Shared helpers of the fault-injection tests: rules, process finders, HTTP clients.

Every test here runs real processes (``triaged run``, ``triaged serve``, ``triaged
worker``, redis-server) against a real page receiver on 127.0.0.1, injects one fault
(SIGKILL, SIGSTOP, a stopped Redis, a failing page receiver, a fast clock, ...) and
checks the product's promises. Every wait is bounded; every process a test starts
is stopped by its PID (or its own process group).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from receiver.supervisor import EmbeddedRedis
from tests.support.daemon import TriagedProcess
from tests.support.payloads import alertmanager_payload, encode_like_alertmanager, group_key_for
from tests.support.wait import wait_until

QUEUE = "triaged"  # pages, escalation steps, deadlines
PROBES_QUEUE = "triaged-probes"  # diagnosis
QUEUES = (QUEUE, PROBES_QUEUE)
# The auditors' lock (PX 1000, renewed every 0.2 s by its holder): its value is the PID
# of the auditor process that moves scheduled jobs and runs the reconciler.
AUDITOR_LOCK = "triaged:reconciler-lock"

# -- rules -------------------------------------------------------------------------


def write_rules(
    directory: Path,
    contacts: Mapping[str, str | Sequence[str]],
    steps: Sequence[tuple[str | None, Sequence[str]]],
    *,
    webhook_timeout: str | None = None,
    response_time: str = "1h",
    diagnosis_budget: str = "1s",
) -> Path:
    """A rules directory where every alert is SEV-1 and pages ``contacts`` by ``steps``.

    Args:
        contacts: name -> webhook URL (or several URLs: one channel each).
        steps: ``(after, [contact, ...])`` in order; the first step's ``after`` is None.
        webhook_timeout: the ``timeout`` of every webhook channel (per attempt).
        response_time: SEV-1's response time; long by default, so that no deadline
            page mixes into what a test counts.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "severities.yaml").write_text(
        "severities:\n"
        f"  SEV-1: {{response_time: {response_time}, page: immediately, "
        f"diagnosis_budget: {diagnosis_budget}}}\n"
        "default_severity: SEV-1\n"
    )
    lines = ["contacts:"]
    for name, urls in contacts.items():
        lines += [f"  {name}:", f"    role: {name} role", "    channels:"]
        for url in [urls] if isinstance(urls, str) else urls:
            extra = f", timeout: {webhook_timeout}" if webhook_timeout else ""
            lines.append(f"      - {{webhook: '{url}'{extra}}}")
    lines += ["escalation:", "  SEV-1:"]
    for i, (after, notify) in enumerate(steps):
        if i == 0:
            assert after is None, "the first step goes at once"
            lines.append(f"    - notify: [{', '.join(notify)}]")
        else:
            lines.append(f"    - {{after: {after}, notify: [{', '.join(notify)}]}}")
    (directory / "contacts.yaml").write_text("\n".join(lines) + "\n")
    (directory / "rules.yaml").write_text(
        "rules:\n  - name: everything\n    matchers: ['alertname =~ \".+\"']\n    severity: SEV-1\n"
    )
    return directory


# -- payloads ----------------------------------------------------------------------


def am_body(
    alertname: str, service: str, ns: Sequence[int | str], starts_at: str = "2026-11-26T10:00:00Z"
) -> bytes:
    """Alertmanager's bytes for one group (alertname, service) with one alert per ``n``."""
    alerts = [
        {
            "labels": {"alertname": alertname, "service": service, "n": str(n)},
            "annotations": {"summary": f"{alertname} on {service} #{n}"},
            "startsAt": starts_at,
        }
        for n in ns
    ]
    key = group_key_for({"alertname": alertname, "service": service})
    return encode_like_alertmanager(alertmanager_payload(alerts, group_key=key))


# -- processes (psutil) --------------------------------------------------------------


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return []


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def children_matching(pid: int, predicate: Any) -> list[psutil.Process]:
    """Live direct children of ``pid`` whose command line satisfies ``predicate``."""
    try:
        kids = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    return [k for k in kids if _alive(k) and predicate(_cmdline(k))]


def redis_server_of(triaged: TriagedProcess) -> psutil.Process:
    """The embedded redis-server child of ``triaged run``."""
    found = children_matching(triaged.pid, lambda c: any("redis-server" in a for a in c[:1]))
    assert len(found) == 1, f"expected one redis-server child, found {found}"
    return found[0]


def redis_port(proc: psutil.Process) -> int:
    """The port of a redis-server. It rewrites its title (``/path/redis-server
    127.0.0.1:PORT``) over its arguments, so read it from there, or from ``--port``."""
    args = [a for a in _cmdline(proc) if a]
    if "--port" in args:
        return int(args[args.index("--port") + 1])
    title = " ".join(args)
    _, _, tail = title.rpartition(":")
    if tail.isdigit():
        return int(tail)
    listening = [c.laddr.port for c in proc.net_connections("tcp") if c.status == "LISTEN"]
    assert listening, f"cannot tell the port of redis-server {proc.pid}: {title!r}"
    return int(listening[0])


def redis_client_of(triaged: TriagedProcess, **kwargs: Any) -> redis.Redis:
    """A client of ``triaged run``'s embedded Redis (port read from its command line)."""
    port = redis_port(redis_server_of(triaged))
    opts = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0, **kwargs}
    return redis.Redis(host="127.0.0.1", port=port, **opts)


def receiver_of(triaged: TriagedProcess) -> psutil.Process:
    """The live ``triaged serve`` child of ``triaged run``."""
    found = children_matching(triaged.pid, lambda c: "serve" in c)
    assert len(found) == 1, f"expected one receiver child, found {found}"
    return found[0]


def workers_of(triaged: TriagedProcess) -> list[psutil.Process]:
    """The live ``triaged worker`` children of ``triaged run`` (RQ worker main processes)."""
    return children_matching(triaged.pid, lambda c: "worker" in c and "receiver.cli" in c)


def work_horse_of(worker: psutil.Process) -> psutil.Process | None:
    """The RQ work horse of ``worker``: the child that made itself a process group
    leader (``os.setpgrp()`` after the fork; the auditor and multiprocessing's
    resource tracker keep the worker's group)."""
    try:
        kids = worker.children()
    except psutil.NoSuchProcess:
        return None
    for kid in kids:
        try:
            if _alive(kid) and os.getpgid(kid.pid) == kid.pid:
                return kid
        except ProcessLookupError:
            continue
    return None


def talks_to(proc: psutil.Process, port: int) -> bool:
    """True when ``proc`` has a TCP connection open to 127.0.0.1:``port``."""
    try:
        conns = proc.net_connections("tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return any(c.raddr and c.raddr.port == port for c in conns)


def is_auditor(cmdline: Sequence[str]) -> bool:
    """The auditor is a ``multiprocessing`` spawn child of its worker (``python -c
    'from multiprocessing.spawn import spawn_main; ...' --multiprocessing-fork``); the
    resource tracker, its sibling, runs ``multiprocessing.resource_tracker``."""
    return any("multiprocessing.spawn" in a for a in cmdline)


def auditors_of(worker: psutil.Process) -> list[psutil.Process]:
    """The live auditor process(es) of one ``triaged worker``."""
    return children_matching(worker.pid, is_auditor)


def auditor_pid(client: redis.Redis) -> int | None:
    """PID of the auditor holding the auditors' lock (its value: ``pid@host/nonce``)."""
    raw = client.get(AUDITOR_LOCK)
    return int(raw.decode().split("@", 1)[0]) if raw else None


def lock_holder(client: redis.Redis, workers: Sequence[psutil.Process]) -> psutil.Process:
    """The live auditor holding the lock, checked to be an auditor child of one of
    ``workers``; waits (bounded) for the lock to be taken."""
    pid = wait_until(lambda: auditor_pid(client), timeout=20, message="an auditor holds the lock")
    proc = psutil.Process(pid)
    parents = {w.pid for w in workers}
    assert proc.ppid() in parents and is_auditor(_cmdline(proc)), (
        f"lock holder {pid} is not a worker's auditor: ppid {proc.ppid()} not in {parents} "
        f"or {_cmdline(proc)}"
    )
    return proc


def live_processes(pids: Sequence[int]) -> list[psutil.Process]:
    """psutil handles of those PIDs that still run."""
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(pid)
            if _alive(proc):
                found.append(proc)
    return found


def wait_gone(procs: Sequence[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until each process has exited (a zombie counts: its parent may never reap
    it); return those still running at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if _alive(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.02)


def kill_pid(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def reap_orphans(pids: Sequence[int], timeout: float = 5.0) -> list[str]:
    """SIGKILL the given PIDs that are still alive; describe each one that was."""
    left = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        if not _alive(proc):
            continue
        left.append(f"pid {pid}: {' '.join(_cmdline(proc))}")
        kill_pid(pid)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            proc.wait(timeout)
    return left


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM one process we started (its group, when it leads one); SIGKILL at timeout."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# -- standalone `triaged serve` / `triaged worker` -----------------------------------


def triaged_bin() -> str:
    return str(Path(sys.executable).parent / "triaged")


@dataclass
class Service:
    """One ``triaged`` subcommand as a process of its own session, logging to a file.

    ``stop()`` sends SIGTERM to the process, waits, SIGKILLs the process group
    after ``stop_timeout``, and reports (then kills) descendants still running
    ``leftover_grace`` seconds after the process exited.
    """

    args: list[str]
    env: dict[str, str]
    log_path: Path
    prefix: Sequence[str] = ()
    stop_timeout: float = 15.0
    leftover_grace: float = 5.0
    proc: subprocess.Popen[bytes] | None = None
    left_behind: list[str] = field(default_factory=list)

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*self.prefix, triaged_bin(), *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self.env, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            watched = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            watched = []
        stop_process(self.proc, self.stop_timeout)
        # children may still be finishing their own shutdown (a multiprocessing
        # resource tracker leaves when its pipe closes): give them a moment
        wait_gone(watched, self.leftover_grace)
        self.left_behind += reap_orphans([p.pid for p in watched])
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def services(*items: Service) -> Iterator[tuple[Service, ...]]:
    """Start the services in order; stop them in reverse order, whatever happens."""
    started: list[Service] = []
    try:
        for item in items:
            started.append(item.start())
        yield items
    finally:
        for item in reversed(started):
            item.stop()
    leftovers = [f"{s.args[0]}: {x}" for s in started for x in s.left_behind]
    assert not leftovers, f"processes left behind (now killed): {leftovers}"


def service_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"REDIS_URL": redis_url, "TRIAGED_ACK_KEY": "fault-tests-ack-key", **extra})
    return env


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


# -- HTTP reads ----------------------------------------------------------------------


def get_json(base_url: str, path: str, timeout: float = 10.0) -> Any:
    response = httpx.get(base_url + path, timeout=timeout)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response.json()


def all_incident_details(base_url: str) -> list[dict[str, Any]]:
    """Every incident (the list holds at most 200) with its alerts and timeline."""
    listed = get_json(base_url, "/api/v1/incidents")["incidents"]
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        out = []
        for item in listed:
            response = client.get(f"/api/v1/incidents/{item['id']}")
            assert response.status_code == 200, response.text[:300]
            out.append(response.json())
    return out


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus exposition text (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def metric_sum(text: str, name: str) -> float:
    """The sum of every sample of ``name`` whatever its labels (0 when absent)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                total += float(s.value)
    return total


def metrics_text(base_url: str) -> str:
    response = httpx.get(base_url + "/metrics", timeout=10.0)
    assert response.status_code == 200
    return response.text


def timeline(detail: Mapping[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in detail["timeline"] if kind is None or e["kind"] == kind]


def rq_idle(client: redis.Redis) -> bool:
    """Nothing queued and nothing in RQ's started registries, on both queues."""
    from rq.registry import StartedJobRegistry

    return all(
        client.llen(f"rq:queue:{name}") == 0
        and StartedJobRegistry(name, connection=client).count == 0
        for name in QUEUES
    )


def step_due(detail: Mapping[str, Any], step: int) -> float:
    """When escalation ``step`` (first cycle) is due, as a ``time.monotonic()`` value.

    The worker records it (``escalation_scheduled``, ``due``: Redis ``TIME``, epoch
    seconds). Redis runs on this host with the true clock, so the epoch converts to
    this process's monotonic clock, the one PageReceiver stamps requests with."""
    dues = [
        float(e["due"])
        for e in timeline(detail, "escalation_scheduled")
        if str(e["detail"]).startswith(f"step {step} ")
    ]
    assert len(dues) == 1, f"step {step} scheduled {len(dues)} times: {detail['timeline']}"
    return dues[0] - time.time() + time.monotonic()


# -- an Alertmanager-like sender -------------------------------------------------------

# Alertmanager's observed gaps between retries of one notification (field notes)
AM_BACKOFF_S = (0.4, 0.7, 0.9, 1.2, 1.6, 2.0, 2.5)


@dataclass
class Attempt:
    started: float  # time.monotonic()
    finished: float
    status: int | None  # None: no HTTP answer (refused, reset, timeout)
    error: str = ""
    retry_after: str | None = None
    body: Any = None

    @property
    def took(self) -> float:
        return self.finished - self.started


@dataclass
class Notification:
    body: bytes
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def final(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def accepted(self) -> bool:
        return self.final is not None and self.final.status == 202


async def send_like_alertmanager(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    cycle_s: float = 10.0,
    attempt_timeout_s: float = 10.0,
    total_s: float = 60.0,
    max_attempts: int = 200,
) -> Notification:
    """POST ``body`` until a 2xx, retrying 5xx and connection failures as Alertmanager
    does: gaps of about 0.4 s growing to 2.5 s; a cycle gives up after ``cycle_s``
    and a new cycle starts at once; a 4xx ends it. Bounded by ``total_s`` and ``max_attempts``."""
    note = Notification(body)
    started = time.monotonic()
    headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"}
    while time.monotonic() - started < total_s and len(note.attempts) < max_attempts:
        cycle_start = time.monotonic()
        retry = 0
        while len(note.attempts) < max_attempts:
            t0 = time.monotonic()
            try:
                async with session.post(
                    url,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=attempt_timeout_s),
                ) as response:
                    raw = await response.read()
                    try:
                        decoded: Any = json.loads(raw)
                    except ValueError:
                        decoded = raw[:200]
                    note.attempts.append(
                        Attempt(
                            t0,
                            time.monotonic(),
                            response.status,
                            retry_after=response.headers.get("Retry-After"),
                            body=decoded,
                        )
                    )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                note.attempts.append(Attempt(t0, time.monotonic(), None, error=repr(exc)[:200]))
            status = note.attempts[-1].status
            if status is not None and status < 500:
                return note  # 2xx: delivered; 4xx: Alertmanager does not retry
            gap = AM_BACKOFF_S[min(retry, len(AM_BACKOFF_S) - 1)]
            retry += 1
            now = time.monotonic()
            if now - cycle_start + gap > cycle_s or now - started + gap > total_s:
                break
            await asyncio.sleep(gap)
    return note


# -- a poller of one URL from a thread -----------------------------------------------------


@dataclass
class Probe:
    at: float
    took: float
    status: int | None
    body: Any = None


def poll_in_thread(
    url: str,
    interval: float,
    stop: Any,
    out: list[Probe],
    timeout: float = 5.0,
    max_seconds: float = 300.0,
) -> None:
    """GET ``url`` every ``interval`` s until ``stop`` (a threading.Event) is set, or
    ``max_seconds`` have passed."""
    deadline = time.monotonic() + max_seconds
    with httpx.Client(timeout=timeout) as client:
        while not stop.is_set() and time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                response = client.get(url)
                try:
                    body: Any = response.json()
                except ValueError:
                    body = response.text[:200]
                out.append(Probe(t0, time.monotonic() - t0, response.status_code, body))
            except httpx.HTTPError as exc:
                out.append(Probe(t0, time.monotonic() - t0, None, repr(exc)[:200]))
            stop.wait(max(0.0, interval - (time.monotonic() - t0)))


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of the test's own (AOF on, true clock), for standalone processes."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def faketime_lib() -> str:
    """libfaketime's preload library (Debian package ``faketime``), or skip/fail."""
    candidates = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    for path in candidates:
        if os.path.exists(path):
            return path
    message = (
        "libfaketime not found: install the Debian package `faketime` (apt-get install faketime)"
    )
    if os.environ.get("TRIAGED_REQUIRE_EXTERNAL") == "1":
        pytest.fail(f"{message}; TRIAGED_REQUIRE_EXTERNAL=1 forbids skipping", pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")
