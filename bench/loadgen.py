"""The load generator: keep-alive HTTP/1.1 POSTs from 1..N processes, bounded twice.

Every run stops by itself: at ``max_requests`` (per process) or when its time is up,
whichever comes first, and a watchdog closes every connection shortly after that
even if the server stops answering. The parent kills a worker process that outlives
its budget by PID.

Two shapes:

- closed loop (``rate`` None): ``connections`` requests in flight per process, each
  connection sending its next request as soon as the answer arrives (the ingest
  figures: concurrency 16 = 2 processes x 8 connections);
- open loop (``rate`` req/s per process): requests leave on a fixed schedule whatever
  the answers do (background load, the alert storm), over at most ``connections``
  connections; the schedule's lag is reported.

The client is a minimal HTTP/1.1 protocol on asyncio (no aiohttp client, about
10 times cheaper per request), because on a 2-core machine every microsecond the
generator spends is taken from the server it measures. It understands exactly what
aiohttp servers answer: a status line, headers, a ``Content-Length`` body.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

from bench.payloads import BodyMaker, BodySpec

WATCHDOG_GRACE_S = 10.0
SPAWN_LEAD_S = 1.5


class Closed(ConnectionError):
    pass


class _Http(asyncio.Protocol):
    """One keep-alive connection; ``request()`` sends bytes and returns the status."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            waiter.set_exception(Closed("answer without Content-Length"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop > 0 else None])
        total = end + 4 + length
        if len(self.buf) < total:
            return
        status = int(head[9:12])
        del self.buf[:total]
        waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(Closed(str(exc or "connection closed")))

    async def request(self, data: bytes) -> int:
        if self.closed or self.transport is None:
            raise Closed("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _connect(host: str, port: int) -> _Http:
    _, proto = await asyncio.get_running_loop().create_connection(_Http, host, port)
    return proto


@dataclass(frozen=True)
class LoadSpec:
    """One load run (each process runs it with its own salt).

    Attributes:
        port, path: where to POST (always 127.0.0.1).
        body: what to POST.
        connections: connections per process.
        max_requests: per process, the count bound.
        warmup_s: sent but not measured.
        duration_s: the measured window, the time bound (after the warm-up).
        rate: requests/s per process (open loop), or None (closed loop).
        processes: how many generator processes.
    """

    port: int
    path: str
    body: BodySpec
    connections: int = 8
    max_requests: int = 100_000
    warmup_s: float = 1.0
    duration_s: float = 10.0
    rate: float | None = None
    processes: int = 2
    host: str = "127.0.0.1"


@dataclass
class ProcResult:
    """What one generator process measured in its window."""

    requests: int = 0  # answered within the window
    alerts_ok: int = 0  # alerts in 2xx answers within the window
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, answered in window
    window_s: float = 0.0
    cpu_s: float = 0.0  # this process's CPU time within the window
    sent_total: int = 0
    max_lag_s: float = 0.0  # open loop: how late the schedule ran at worst
    first_error: str = ""


async def _run(spec: LoadSpec, salt: int, start_at: float, stop: Event | None) -> ProcResult:
    maker = BodyMaker(replace(spec.body, salt=salt))
    head = (
        f"POST {spec.path} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\n"
        "User-Agent: Alertmanager/0.25.0\r\nContent-Type: application/json\r\n"
    ).encode()

    def request(n: int) -> bytes:
        body = maker.body(n)
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    res = ProcResult()
    t_end = start_at + spec.warmup_s + spec.duration_s
    # the warm-up ends after warmup_s, or after a quarter of the count bound if that
    # comes first (so that a tiny count still leaves something to measure)
    warm_count = spec.max_requests // 4 if spec.warmup_s > 0 else 0
    warm_at: float | None = None
    counter = 0
    cpu_at_warm = 0.0
    last_done = 0.0
    alerts = spec.body.alerts

    def stopping(now: float) -> bool:
        return now >= t_end or counter >= spec.max_requests or (stop is not None and stop.is_set())

    def measuring(now: float) -> bool:
        """Call before sending; True when this request is measured."""
        nonlocal warm_at, cpu_at_warm
        if warm_at is None and (now >= start_at + spec.warmup_s or counter >= warm_count):
            warm_at = now
            cpu_at_warm = time.process_time()
        return warm_at is not None

    def record(t0: float, t1: float, status: int, measured: bool) -> None:
        nonlocal last_done
        if not measured or t1 > t_end:
            return
        res.requests += 1
        res.statuses[status] += 1
        res.latencies.append(t1 - t0)
        if 200 <= status < 300:
            res.alerts_ok += alerts
        last_done = max(last_done, t1)

    def failed(exc: BaseException) -> None:
        res.errors += 1
        if not res.first_error:
            res.first_error = f"{type(exc).__name__}: {exc}"[:200]

    conns: list[_Http] = []
    for _ in range(spec.connections):
        try:
            conns.append(await _connect(spec.host, spec.port))
        except OSError as exc:
            failed(exc)
    if not conns:
        return res
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))

    async def closed_loop(conn: _Http) -> None:
        nonlocal counter
        while not stopping(time.monotonic()):
            measured = measuring(time.monotonic())
            n = counter
            counter += 1
            data = request(n)
            t0 = time.monotonic()
            try:
                status = await conn.request(data)
            except (Closed, OSError) as exc:
                failed(exc)
                await asyncio.sleep(0.05)
                try:
                    conn = await _connect(spec.host, spec.port)
                    conns.append(conn)
                except OSError as exc2:
                    failed(exc2)
                continue
            record(t0, time.monotonic(), status, measured)

    async def open_loop(rate: float) -> None:
        nonlocal counter
        free: asyncio.Queue[_Http] = asyncio.Queue()
        for c in conns:
            free.put_nowait(c)
        pending: set[asyncio.Task[None]] = set()

        async def one(conn: _Http, data: bytes, measured: bool) -> None:
            t0 = time.monotonic()
            try:
                status = await conn.request(data)
            except (Closed, OSError) as exc:
                failed(exc)
                try:
                    conn = await _connect(spec.host, spec.port)
                    conns.append(conn)
                except OSError as exc2:
                    failed(exc2)
                    await asyncio.sleep(0.05)
                    return  # a connection fewer (bounded by the run's end anyway)
            else:
                record(t0, time.monotonic(), status, measured)
            free.put_nowait(conn)

        while True:
            due = start_at + counter / rate
            now = time.monotonic()
            if stopping(max(now, due)):
                break
            if due > now:
                await asyncio.sleep(due - now)
            try:
                conn = await asyncio.wait_for(free.get(), timeout=max(0.01, t_end - now))
            except TimeoutError:
                break
            res.max_lag_s = max(res.max_lag_s, time.monotonic() - due)
            measured = measuring(time.monotonic())
            task = asyncio.create_task(one(conn, request(counter), measured))
            counter += 1
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(
                pending, timeout=max(0.1, t_end + WATCHDOG_GRACE_S - time.monotonic())
            )

    work: asyncio.Future[Any]
    if spec.rate is None:
        work = asyncio.gather(*(closed_loop(c) for c in list(conns)))
    else:
        work = asyncio.gather(open_loop(spec.rate))
    try:
        await asyncio.wait_for(work, timeout=t_end + WATCHDOG_GRACE_S - time.monotonic())
    except TimeoutError:
        failed(TimeoutError("watchdog: answers still pending after the run's end"))
    finally:
        for c in conns:
            c.close()
    end = min(t_end, time.monotonic())
    if counter >= spec.max_requests or (stop is not None and stop.is_set()):
        end = min(end, last_done)
    res.window_s = max(0.0, end - warm_at) if warm_at is not None else 0.0
    res.cpu_s = time.process_time() - cpu_at_warm if warm_at is not None else 0.0
    res.sent_total = counter
    return res


def _child(spec: LoadSpec, salt: int, start_at: float, stop: Event | None, out: Connection) -> None:
    try:
        result = asyncio.run(_run(spec, salt, start_at, stop))
        out.send(result)
    except BaseException as exc:  # report, never hang the parent
        out.send(ProcResult(errors=1, first_error=f"{type(exc).__name__}: {exc}"[:200]))
    finally:
        out.close()


@dataclass
class LoadResult:
    """All processes of one run, merged."""

    procs: list[ProcResult]
    spec: LoadSpec

    @property
    def alerts_per_s(self) -> float:
        return sum(p.alerts_ok / p.window_s for p in self.procs if p.window_s > 0)

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.procs)

    @property
    def errors(self) -> int:
        return sum(p.errors for p in self.procs)

    @property
    def statuses(self) -> Counter[int]:
        total: Counter[int] = Counter()
        for p in self.procs:
            total.update(p.statuses)
        return total

    @property
    def latencies(self) -> list[float]:
        return sorted(x for p in self.procs for x in p.latencies)

    @property
    def cpu_s(self) -> float:
        return sum(p.cpu_s for p in self.procs)

    @property
    def window_s(self) -> float:
        return max((p.window_s for p in self.procs), default=0.0)

    @property
    def max_lag_s(self) -> float:
        return max((p.max_lag_s for p in self.procs), default=0.0)

    @property
    def first_error(self) -> str:
        return next((p.first_error for p in self.procs if p.first_error), "")

    @property
    def non_2xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if not 200 <= s < 300) + self.errors


class LoadRun:
    """A load run in worker processes (spawned: nothing inherited but the spec).

    ``start()`` returns at once; ``wait()`` collects; ``stop()`` asks the workers to
    finish early; ``kill()`` (also on any exception in ``with``) ends them by PID.
    """

    def __init__(self, spec: LoadSpec, salt_base: int | None = None) -> None:
        self.spec = spec
        self.ctx = multiprocessing.get_context("spawn")
        self.stop_event = self.ctx.Event()
        self.salt_base = salt_base if salt_base is not None else (os.getpid() * 16) & 0xFFF0
        self.procs: list[Any] = []
        self.pipes: list[Connection] = []
        self.start_at = 0.0

    @property
    def budget_s(self) -> float:
        return SPAWN_LEAD_S + self.spec.warmup_s + self.spec.duration_s + WATCHDOG_GRACE_S + 10.0

    def start(self, lead_s: float = SPAWN_LEAD_S) -> LoadRun:
        self.start_at = time.monotonic() + lead_s
        for i in range(self.spec.processes):
            recv, send = self.ctx.Pipe(duplex=False)
            proc = self.ctx.Process(
                target=_child,
                args=(self.spec, self.salt_base + i, self.start_at, self.stop_event, send),
                name=f"bench-load-{i}",
                daemon=True,
            )
            proc.start()
            send.close()
            self.procs.append(proc)
            self.pipes.append(recv)
        return self

    def stop(self) -> None:
        self.stop_event.set()

    def wait(self) -> LoadResult:
        deadline = self.start_at + self.budget_s
        results: list[ProcResult] = []
        try:
            for pipe in self.pipes:
                left = max(0.1, deadline - time.monotonic())
                if pipe.poll(left):
                    try:
                        results.append(pipe.recv())
                    except EOFError:
                        results.append(ProcResult(errors=1, first_error="generator died"))
                else:
                    results.append(ProcResult(errors=1, first_error="generator timed out"))
        finally:
            self.kill()
        return LoadResult(results, self.spec)

    def kill(self) -> None:
        for proc in self.procs:
            proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()
        self.pipes = []

    def __enter__(self) -> LoadRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.kill()


def run_load(spec: LoadSpec) -> LoadResult:
    """Run ``spec`` to completion (bounded by count and time) and merge the results."""
    with LoadRun(spec) as run:
        return run.wait()
