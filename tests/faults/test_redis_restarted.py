"""Redis (append-only file on) stopped and started again while 300 alerts arrive at
30/s from an Alertmanager-like sender: every answer during the outage is a 503 within
5 s (never a 2xx, never a 500), and afterwards every alert is stored exactly once and
every incident is paged, once. Receiver and workers reconnect by themselves.

``triaged run``'s supervisor restarts a dead embedded Redis itself (same port, same
AOF) within a fraction of a second. To keep Redis down for OUTAGE_S, the supervisor
is SIGSTOPped for the outage (its other children run on: they are processes of their
own); on SIGCONT it finds Redis dead and starts it again."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import psutil
import pytest
import redis

from tests.faults.conftest import (
    Notification,
    all_incident_details,
    am_body,
    kill_pid,
    redis_port,
    redis_server_of,
    send_like_alertmanager,
    wait_gone,
    write_rules,
)
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

ALERTS = 300
GROUPS = 10
RATE = 30.0  # alerts (posts) per second
STOP_AFTER_S = 3.0
OUTAGE_S = 5.0
PATIENCE_S = 5.0


def test_redis_stopped_and_restarted_during_ingestion(tmp_path: Path) -> None:
    with PageReceiver() as pages, ExitStack() as stack:
        rules = write_rules(
            tmp_path / "rules",
            {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
            [(None, ["primary"]), ("10m", ["lead"])],
        )
        triaged = stack.enter_context(TriagedProcess(rules, tmp_path / "data", workers=2))
        # never leave the supervisor stopped, whatever happens (registered after
        # TriagedProcess, so it runs before it stops triaged)
        stack.callback(kill_pid, triaged.pid, signal.SIGCONT)

        server = redis_server_of(triaged)
        port = redis_port(server)
        url = triaged.url("/api/v1/alerts/alertmanager")
        marks: dict[str, float] = {}

        def answers_ping() -> bool:
            client = redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False
            finally:
                client.close()

        async def outage() -> None:
            await asyncio.sleep(STOP_AFTER_S)
            kill_pid(triaged.pid, signal.SIGSTOP)  # the supervisor: no restart for now
            try:
                server.send_signal(signal.SIGTERM)  # redis-server writes its AOF and exits
                assert not await asyncio.to_thread(wait_gone, [server], 15), "redis-server lives"
                marks["down"] = time.monotonic()
                await asyncio.sleep(OUTAGE_S)
            finally:
                marks["restarting"] = time.monotonic()
                kill_pid(triaged.pid, signal.SIGCONT)
            await asyncio.to_thread(
                wait_until, answers_ping, 20, 0.05, "the supervisor restarted redis-server"
            )
            marks["up"] = time.monotonic()

        async def traffic() -> list[Notification]:
            connector = aiohttp.TCPConnector(limit=100)
            async with aiohttp.ClientSession(connector=connector) as session:
                t0 = time.monotonic()

                async def one(i: int) -> Notification:
                    await asyncio.sleep(max(0.0, t0 + i / RATE - time.monotonic()))
                    body = am_body("RedisBounce", f"svc-{i % GROUPS}", [i])
                    return await send_like_alertmanager(session, url, body, total_s=60.0)

                return await asyncio.gather(*(one(i) for i in range(ALERTS)))

        async def main() -> list[Notification]:
            notes, _ = await asyncio.gather(traffic(), outage())
            return notes

        notes = asyncio.run(main())

        attempts = [a for n in notes for a in n.attempts]
        assert {a.status for a in attempts} <= {202, 503}, Counter(
            (a.status, a.error[:60]) for a in attempts
        )
        down, restarting = marks["down"], marks["restarting"]
        restarted = [
            p
            for p in psutil.Process(triaged.pid).children()
            if p.pid != server.pid and "redis-server" in " ".join(p.cmdline()[:1])
        ]
        assert len(restarted) == 1 and redis_port(restarted[0]) == port, restarted
        print(f"redis-server back {marks['up'] - restarting:.2f}s after the supervisor resumed")
        during = [a for a in attempts if a.started >= down and a.finished <= restarting]
        print(
            f"{len(attempts)} attempts, {sum(a.status == 503 for a in attempts)} answered 503, "
            f"{len(during)} inside the {restarting - down:.1f}s outage; "
            f"slowest answer {max(a.took for a in attempts):.2f}s"
        )
        assert during, "no request was answered during the outage"
        assert all(a.status == 503 for a in during), Counter(a.status for a in during)
        assert all(a.retry_after for a in during), "503 without Retry-After"
        overlapping = [a for a in attempts if a.started < restarting and a.finished > down]
        slow = [round(a.took, 2) for a in overlapping if a.took >= PATIENCE_S]
        assert not slow, f"answers during the outage took {slow} s"
        unaccepted = [n.attempts[-1] for n in notes if not n.accepted]
        assert not unaccepted, f"{len(unaccepted)} alerts never accepted: {unaccepted[:3]}"

        # everything answered 202 is there, exactly once
        details = all_incident_details(triaged.base_url)
        seen = Counter(a["labels"]["n"] for d in details for a in d["alerts"])
        missing = sorted(set(map(str, range(ALERTS))) - set(seen), key=int)
        doubled = {n: c for n, c in seen.items() if c != 1}
        assert not missing and not doubled, f"missing {missing[:20]}, more than once {doubled}"
        assert len(seen) == ALERTS
        assert len(details) == GROUPS, sorted(d["labels"].get("service", "") for d in details)

        # every incident is paged, once
        ids = {d["id"] for d in details}

        def paged() -> set[str]:
            return {r.json["incident_id"] for r in pages.requests("/primary") if r.json}

        try:
            wait_until(
                lambda: paged() >= ids, timeout=90, interval=0.2, message="every incident paged"
            )
        except AssertionError as exc:
            exc.add_note(f"never paged: {sorted(ids - paged())}")
            raise
        time.sleep(2.0)  # a late duplicate would show now
        per_incident = Counter(r.json["incident_id"] for r in pages.requests("/primary"))
        assert set(per_incident) == ids
        assert all(c == 1 for c in per_incident.values()), per_incident
