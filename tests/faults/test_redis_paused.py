"""Redis frozen (SIGSTOP) for 3 s under `triaged run`: alert posts answer within 5 s
(503 with Retry-After when they cannot store, 202 only when stored), /alive keeps
answering in under a second, no endpoint hangs past its timeout, and once Redis
thaws everything works again, pages included."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.faults.conftest import (
    am_body,
    get_json,
    redis_server_of,
    write_rules,
)
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

PAUSE_S = 3.0
PATIENCE_S = 5.0  # an alert POST answers sooner than this, whatever Redis does
ALIVE_S = 1.0


def test_redis_paused_nothing_hangs(tmp_path: Path) -> None:
    with PageReceiver() as pages:
        rules = write_rules(
            tmp_path / "rules",
            {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
            [(None, ["primary"]), ("10m", ["lead"])],
        )
        with TriagedProcess(rules, tmp_path / "data", workers=1) as triaged:
            status, answer = triaged.post_json(
                "/api/v1/alerts/alertmanager", json.loads(am_body("Paused", "before", [0]))
            )
            assert status == 202, answer
            pages.wait_for_count(1, "/primary", timeout=20)
            redis_pid = redis_server_of(triaged).pid
            base = triaged.base_url

            async def timed(
                session: aiohttp.ClientSession, method: str, path: str, body: bytes | None = None
            ) -> tuple[str, float, int | None, Any, float]:
                t0 = time.monotonic()
                try:
                    async with session.request(
                        method,
                        base + path,
                        data=body,
                        headers={"Content-Type": "application/json"},
                        timeout=aiohttp.ClientTimeout(total=15),
                    ) as response:
                        raw = await response.read()
                        extra: Any = (response.headers.get("Retry-After"), raw[:300])
                        return path, t0, response.status, extra, time.monotonic() - t0
                except (aiohttp.ClientError, TimeoutError) as exc:
                    return path, t0, None, repr(exc), time.monotonic() - t0

            async def during_pause() -> list[tuple[str, float, int | None, Any, float]]:
                async with aiohttp.ClientSession() as session:
                    tasks = []
                    t0 = time.monotonic()

                    async def at(delay: float, *args: Any) -> Any:
                        await asyncio.sleep(max(0.0, t0 + delay - time.monotonic()))
                        return await timed(session, *args)

                    for k in range(6):  # alert posts spread over the pause
                        body = am_body("Paused", f"svc-{k}", [k])
                        tasks.append(at(0.1 + k * 0.5, "POST", "/api/v1/alerts/alertmanager", body))
                    for k in range(int((PAUSE_S + 1.5) / 0.1)):  # /alive every 100 ms
                        tasks.append(at(k * 0.1, "GET", "/alive"))
                    for path in ("/health", "/metrics", "/api/v1/incidents"):
                        tasks.append(at(0.3, "GET", path))
                    return await asyncio.gather(*tasks)

            async def main() -> list[tuple[str, float, int | None, Any, float]]:
                os.kill(redis_pid, signal.SIGSTOP)
                try:
                    probe = asyncio.ensure_future(during_pause())
                    await asyncio.sleep(PAUSE_S)
                finally:
                    os.kill(redis_pid, signal.SIGCONT)
                return await probe

            try:
                results = asyncio.run(main())
            finally:
                os.kill(redis_pid, signal.SIGCONT)

            posts = [r for r in results if r[0].startswith("/api/v1/alerts")]
            alive = [r for r in results if r[0] == "/alive"]
            others = [r for r in results if r not in posts and r not in alive]
            print(
                "posts:",
                [(s, round(t, 2)) for _, _, s, _, t in posts],
                f"alive max {max(t for *_, t in alive):.3f}s",
                "others:",
                [(p, s, round(t, 2)) for p, _, s, _, t in others],
            )
            assert Counter(s for _, _, s, _, _ in posts).keys() <= {202, 503}, posts
            for _, _, status, (retry_after, _), took in posts:
                assert took < PATIENCE_S, f"an alert POST took {took:.2f}s"
                if status == 503:
                    assert retry_after and int(retry_after) > 0
            assert all(s == 200 for _, _, s, _, _ in alive), alive
            slow_alive = [round(t, 3) for *_, t in alive if t >= ALIVE_S]
            assert not slow_alive, f"/alive took {slow_alive} s"
            for path, _, status, _, took in others:
                assert status is not None and status != 500, (path, status)
                assert took < PATIENCE_S, f"{path} took {took:.2f}s"

            # thawed: intake stores again, what was accepted is there and gets paged
            stored = {
                json.loads(extra[1])["incidents"][0]["id"]
                for _, _, status, extra, _ in posts
                if status == 202
            }
            status, answer = triaged.post_json(
                "/api/v1/alerts/alertmanager", json.loads(am_body("Paused", "after", [99]))
            )
            assert status == 202, answer
            stored.add(answer["incidents"][0]["id"])
            for incident_id in stored:
                assert get_json(base, f"/api/v1/incidents/{incident_id}")["id"] == incident_id

            def paged() -> set[str]:
                return {r.json["incident_id"] for r in pages.requests("/primary")}

            wait_until(lambda: paged() >= stored, timeout=30, message="accepted alerts paged")
            wait_until(
                lambda: triaged.get_json("/health", timeout=5)[0] == 200,
                timeout=30,
                message="/health ready again",
            )
