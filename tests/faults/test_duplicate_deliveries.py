"""1,000 deliveries of one Alertmanager notification, byte for byte (half one after
another, half 50 at a time): one incident, one page per escalation step and contact,
and Redis does not grow per duplicate."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.faults.conftest import (
    all_incident_details,
    am_body,
    redis_client_of,
    rq_idle,
    timeline,
    write_rules,
)
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

TOTAL = 1000
FIRST = 10
CONCURRENCY = 50
STEP_S = 2.0
# Keys that come and go whatever arrives: RQ's maintenance locks
# (rq:clean_registries:<queue>, one per queue), a running job's execution keys, the
# auditors' short-lived keys (triaged:reconciler-lock, triaged:drain-lock, the
# triaged:wake token). A duplicate that left one key would add 990.
FIXED_SLACK = 5


def test_one_notification_delivered_1000_times(tmp_path: Path) -> None:
    with PageReceiver() as pages:
        rules = write_rules(
            tmp_path / "rules",
            {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
            [(None, ["primary"]), (f"{STEP_S:g}s", ["lead"])],
        )
        with TriagedProcess(rules, tmp_path / "data", workers=2) as triaged:
            client = redis_client_of(triaged, decode_responses=True)
            body = am_body("Duplicated", "checkout", [1, 2, 3])
            url = triaged.url("/api/v1/alerts/alertmanager")
            headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"}

            async def post(session: aiohttp.ClientSession) -> tuple[int, dict[str, object]]:
                async with session.post(url, data=body, headers=headers) as response:
                    return response.status, await response.json()

            async def sequential(n: int) -> list[tuple[int, dict[str, object]]]:
                async with aiohttp.ClientSession() as session:
                    return [await post(session) for _ in range(n)]

            async def concurrent(n: int) -> list[tuple[int, dict[str, object]]]:
                connector = aiohttp.TCPConnector(limit=CONCURRENCY)
                async with aiohttp.ClientSession(connector=connector) as session:
                    out: list[tuple[int, dict[str, object]]] = []
                    for _ in range(n // CONCURRENCY):
                        out += await asyncio.gather(*(post(session) for _ in range(CONCURRENCY)))
                    return out

            answers = asyncio.run(sequential(FIRST))
            # the whole escalation plays out before the baseline is taken
            pages.wait_for_count(1, "/lead", timeout=STEP_S + 20)
            wait_until(lambda: _settled(client), timeout=20, message="queue and outbox idle")
            keys_before = set(client.keys("*"))

            half = TOTAL // 2
            answers += asyncio.run(sequential(half - FIRST))
            answers += asyncio.run(concurrent(TOTAL - half))
            assert len(answers) == TOTAL
            statuses = Counter(status for status, _ in answers)
            assert statuses == {202: TOTAL}, statuses
            results = Counter(
                (i["id"], i["result"])
                for _, a in answers
                for i in a["incidents"]  # type: ignore[attr-defined]
            )
            [incident_id] = {i for i, _ in results}
            assert results == {(incident_id, "created"): 1, (incident_id, "duplicate"): TOTAL - 1}

            # the auditors drain the outbox when woken and every 0.2 s, and reconcile
            # once a second: let a stray enqueue or re-drive show
            time.sleep(1.5)
            wait_until(lambda: _settled(client), timeout=20, message="queue and outbox idle")
            keys_after = set(client.keys("*"))
            grown = sorted(keys_after - keys_before)
            print(f"keys: {len(keys_before)} -> {len(keys_after)}; new: {grown}")
            per_incident = [k for k in grown if incident_id in k]
            assert not per_incident, f"keys of the incident added by duplicates: {per_incident}"
            assert len(keys_after) - len(keys_before) <= FIXED_SLACK, f"new keys: {grown}"

            details = all_incident_details(triaged.base_url)
            assert [d["id"] for d in details] == [incident_id]
            [detail] = details
            assert len(detail["alerts"]) == 3
            keys = Counter(r.headers["Idempotency-Key"] for r in pages.requests())
            assert len(pages.requests("/primary")) == 1, keys
            assert len(pages.requests("/lead")) == 1, keys
            assert all(c == 1 for c in keys.values()), keys
            assert len(timeline(detail, "page_sent")) == 2
            assert len(timeline(detail, "opened")) == 1
            client.close()


def _settled(client: object) -> bool:
    from redis import Redis

    assert isinstance(client, Redis)
    return rq_idle(client) and client.zcard("triaged:outbox") == 0
