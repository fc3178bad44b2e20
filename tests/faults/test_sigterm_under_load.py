"""SIGTERM to a receiver (`triaged serve`) while clients post continuously: /health
turns 503 ("draining") first, requests already sent complete (no reset), the process
exits within its shutdown timeout, and every alert answered 202 is stored."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from receiver.supervisor import EmbeddedRedis
from tests.faults.conftest import (
    Service,
    am_body,
    http_ok,
    service_env,
    services,
    write_rules,
)
from tests.support.page_receiver import PageReceiver
from tests.support.ports import free_port
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

SHUTDOWN_TIMEOUT_S = 15.0
LOAD_BEFORE_S = 1.0
CLIENTS = 4
PARTIAL = 3  # requests whose body is only half sent when SIGTERM arrives


@dataclass
class Call:
    path: str
    started: float
    finished: float
    status: int | None
    body: Any = None
    error: str = ""


def test_sigterm_under_load_drains(tmp_path: Path, own_redis: EmbeddedRedis) -> None:
    with PageReceiver() as pages:
        rules = write_rules(
            tmp_path / "rules",
            {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
            [(None, ["primary"]), ("10m", ["lead"])],
        )
        env = service_env(own_redis.url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = Service(
            ["serve", "--rules", str(rules), "--listen", f"127.0.0.1:{port}"],
            env,
            tmp_path / "serve.log",
        )
        worker = Service(["worker"], env, tmp_path / "worker.log")
        with services(worker, serve):
            wait_until(lambda: http_ok(base + "/health"), timeout=30, message="serve ready")
            try:
                calls, partial, marks = asyncio.run(_load_then_sigterm(serve, port, base))
            except BaseException as exc:
                exc.add_note(f"--- serve log ---\n{serve.log_tail()}")
                raise
        term, exited = marks["term"], marks["exited"]
        exit_code = serve.proc.returncode if serve.proc else None
        posts = [c for c in calls if c.path.startswith("/api")]
        health = [c for c in calls if c.path == "/health"]
        print(
            f"exit {exit_code} after {exited - term:.2f}s; posts "
            f"{Counter((c.started > term, c.status) for c in posts)}; /health after SIGTERM "
            f"{[(round(c.started - term, 2), c.status) for c in health if c.started > term][:8]}"
        )

        problems: list[str] = []  # every broken promise at once, not just the first

        # the process exits within its shutdown timeout
        if exited - term > SHUTDOWN_TIMEOUT_S:
            problems.append(f"exited {exited - term:.1f}s after SIGTERM")
        if exit_code != 0:
            problems.append(f"exit code {exit_code}")

        # requests already sent complete: no reset, no missing answer
        before = [c for c in posts if c.started < term]
        cut = [c for c in before if c.status is None]
        if cut:
            problems.append(f"{len(cut)} request(s) sent before SIGTERM got no answer: {cut[:3]}")
        if not {c.status for c in before} <= {202, None}:
            problems.append(f"answers before SIGTERM: {Counter(c.status for c in before)}")
        if [c.status for c in partial] != [202] * PARTIAL:
            problems.append(f"requests in flight at SIGTERM (half their body sent): {partial}")

        # /health says 503 ("draining") at once, while the receiver still answers
        answered = [c for c in health if c.started > term + 0.05 and c.status is not None]
        if not answered:
            problems.append("no /health answer after SIGTERM: the listener closed at once")
        elif any(c.status != 503 for c in answered) or "draining" not in json.dumps(
            answered[0].body
        ):
            problems.append(
                "/health after SIGTERM: "
                f"{[(round(c.started - term, 2), c.status, c.body) for c in answered][:3]}"
            )
        after = [c for c in posts if c.started > term + 0.05 and c.status is not None]
        if not any(c.status == 202 for c in after):
            problems.append("no new alert post was served while draining")
        if not {c.status for c in after} <= {202, 503}:
            problems.append(f"answers while draining: {Counter(c.status for c in after)}")

        # nothing answered 2xx is lost
        client = redis.Redis.from_url(own_redis.url, decode_responses=True)
        accepted = [c for c in [*posts, *partial] if c.status == 202]
        missing = [
            c.body["incidents"][0]["id"]
            for c in accepted
            if client.hlen(f"triaged:incident:{c.body['incidents'][0]['id']}:alerts") != 1
        ]
        client.close()
        if missing:
            problems.append(
                f"{len(missing)} of {len(accepted)} accepted alerts lost: {missing[:5]}"
            )
        assert not problems, "\n".join(problems)


async def _load_then_sigterm(
    serve: Service, port: int, base: str
) -> tuple[list[Call], list[Call], dict[str, float]]:
    calls: list[Call] = []
    marks: dict[str, float] = {}
    done = asyncio.Event()
    counter = iter(range(1_000_000))
    connector = aiohttp.TCPConnector(force_close=True, limit=0)  # a connection per request
    async with aiohttp.ClientSession(connector=connector) as session:

        async def request(path: str, body: bytes | None = None) -> None:
            started = time.monotonic()
            try:
                async with session.request(
                    "POST" if body else "GET",
                    base + path,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=SHUTDOWN_TIMEOUT_S + 5),
                ) as response:
                    raw = await response.read()
                    try:
                        decoded: Any = json.loads(raw)
                    except ValueError:
                        decoded = raw[:200]
                    calls.append(Call(path, started, time.monotonic(), response.status, decoded))
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                calls.append(Call(path, started, time.monotonic(), None, error=repr(exc)[:160]))

        deadline = time.monotonic() + 3 * SHUTDOWN_TIMEOUT_S + 30  # every loop ends

        async def poster() -> None:
            while not done.is_set() and time.monotonic() < deadline:
                i = next(counter)
                await request("/api/v1/alerts/alertmanager", am_body("Drain", f"svc-{i}", [i]))
                if calls[-1].status is None:
                    await asyncio.sleep(0.05)  # refused: the port is closed, do not spin

        async def health() -> None:
            while not done.is_set() and time.monotonic() < deadline:
                await request("/health")
                await asyncio.sleep(0.05)

        loops = [asyncio.ensure_future(poster()) for _ in range(CLIENTS)]
        loops.append(asyncio.ensure_future(health()))
        await asyncio.sleep(LOAD_BEFORE_S)

        halves = []
        for k in range(PARTIAL):
            body = am_body("Drain", f"partial-{k}", [k])
            halves.append((await _send_half(port, body), body))
        await asyncio.sleep(0.2)  # their headers are read: their handlers are running

        assert serve.proc is not None
        serve.proc.send_signal(signal.SIGTERM)
        marks["term"] = time.monotonic()
        exit_wait = asyncio.ensure_future(
            asyncio.to_thread(serve.proc.wait, SHUTDOWN_TIMEOUT_S + 10)
        )
        await asyncio.sleep(0.3)
        partial = await asyncio.gather(*(_send_rest(conn, body) for conn, body in halves))
        try:
            await exit_wait
        finally:
            marks["exited"] = time.monotonic()
            await asyncio.sleep(0.3)
            done.set()
            await asyncio.gather(*loops)
    return calls, list(partial), marks


async def _send_half(port: int, body: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /api/v1/alerts/alertmanager HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    writer.write(head + body[: len(body) // 2])
    await writer.drain()
    return reader, writer


async def _send_rest(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], body: bytes) -> Call:
    reader, writer = conn
    started = time.monotonic()
    try:
        writer.write(body[len(body) // 2 :])
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=SHUTDOWN_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        return Call("partial", started, time.monotonic(), None, error=repr(exc)[:160])
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    if not head:
        return Call("partial", started, time.monotonic(), None, error="closed without an answer")
    status = int(head.split()[1])
    try:
        decoded: Any = json.loads(payload)
    except ValueError:
        decoded = payload[:200]
    return Call("partial", started, time.monotonic(), status, decoded)
