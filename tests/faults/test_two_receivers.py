"""Two receiver processes on two ports against one Redis (plus one worker): the same
alert fired 100 times at each of them at once makes one incident and one page."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from receiver.supervisor import EmbeddedRedis
from tests.faults.conftest import (
    Service,
    all_incident_details,
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

FIRES = 100


def test_same_alert_at_two_receivers_one_incident_one_page(
    tmp_path: Path, own_redis: EmbeddedRedis
) -> None:
    with PageReceiver() as pages:
        rules = write_rules(
            tmp_path / "rules",
            {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
            [(None, ["primary"]), ("10m", ["lead"])],
        )
        env = service_env(own_redis.url)
        ports = [free_port(), free_port()]
        receivers = [
            Service(
                ["serve", "--rules", str(rules), "--listen", f"127.0.0.1:{port}"],
                env,
                tmp_path / f"serve-{port}.log",
            )
            for port in ports
        ]
        worker = Service(["worker"], env, tmp_path / "worker.log")
        with services(worker, *receivers):
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            for base in bases:
                wait_until(
                    lambda b=base: http_ok(b + "/health"), timeout=30, message=f"{base} ready"
                )
            body = am_body("TwoDoors", "checkout", [1])

            async def fire() -> list[tuple[int, dict[str, object]]]:
                connector = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(connector=connector) as session:
                    start = asyncio.Event()

                    async def one(base: str) -> tuple[int, dict[str, object]]:
                        await start.wait()
                        async with session.post(
                            base + "/api/v1/alerts/alertmanager",
                            data=body,
                            headers={"Content-Type": "application/json"},
                        ) as response:
                            return response.status, await response.json()

                    tasks = [
                        asyncio.ensure_future(one(base)) for _ in range(FIRES) for base in bases
                    ]
                    await asyncio.sleep(0.05)
                    start.set()
                    return await asyncio.gather(*tasks)

            answers = asyncio.run(fire())
            assert Counter(s for s, _ in answers) == {202: 2 * FIRES}, answers[:3]
            results = Counter(
                (i["id"], i["result"])
                for _, a in answers
                for i in a["incidents"]  # type: ignore[attr-defined]
            )
            [incident_id] = {i for i, _ in results}
            assert results[(incident_id, "created")] == 1, results

            [page] = pages.wait_for_count(1, "/primary", timeout=20)
            assert page.json["incident_id"] == incident_id
            # the worker's auditor has drained the outbox a dozen times since, and
            # reconciled twice: a second page would show by now
            time.sleep(2.5)
            assert len(pages.requests("/primary")) == 1
            for base in bases:
                details = all_incident_details(base)
                assert [d["id"] for d in details] == [incident_id]
                assert len(details[0]["alerts"]) == 1
