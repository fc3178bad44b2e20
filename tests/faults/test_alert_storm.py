"""An alert storm: 10,000 distinct alerts in 10 s across 100 groups (10 alerts per
request). No crash, no 5xx but deliberate 503s with Retry-After (retried), every alert
stored, at most one page per incident, the receiver's memory bounded, the queues
empty again within 60 s, and /alive fast throughout."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from tests.faults.conftest import (
    QUEUES,
    Probe,
    all_incident_details,
    am_body,
    metric,
    metric_sum,
    metrics_text,
    percentile,
    poll_in_thread,
    receiver_of,
    redis_client_of,
    timeline,
    write_rules,
)
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

GROUPS = 100
PER_REQUEST = 10
REQUESTS = 1000  # 10 per group: 10,000 alerts
STORM_S = 10.0
CONNECTIONS = 64
MAX_RETRIES = 10
RSS_GROWTH_MB = 100
DRAIN_S = 60.0
ALIVE_P99_S = 0.5


def test_alert_storm(tmp_path: Path) -> None:
    with PageReceiver() as pages:
        rules = write_rules(
            tmp_path / "rules",
            {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
            [(None, ["primary"]), ("10m", ["lead"])],
        )
        with TriagedProcess(rules, tmp_path / "data", workers=2) as triaged:
            receiver = receiver_of(triaged)
            client = redis_client_of(triaged)
            # warm up (first imports, connection pools) before measuring memory
            assert triaged.get_json("/metrics")[0] == 200
            rss_before = receiver.memory_info().rss
            url = triaged.url("/api/v1/alerts/alertmanager")

            stop = threading.Event()
            probes: list[Probe] = []
            poller = threading.Thread(
                target=poll_in_thread, args=(triaged.url("/alive"), 0.05, stop, probes)
            )
            poller.start()
            try:
                answers, storm_s = asyncio.run(_storm(url))
            finally:
                stop.set()
                poller.join(10)
            storm_end = time.monotonic()

            statuses = Counter(s for attempts in answers for s, _ in attempts)
            print(f"storm sent in {storm_s:.1f}s; answers {dict(statuses)}")
            assert set(statuses) <= {202, 503}, statuses
            for attempts in answers:
                for status, retry_after in attempts:
                    if status == 503:
                        assert retry_after, "a 503 without Retry-After"
                assert attempts[-1][0] == 202, f"never accepted: {attempts}"
            assert receiver.is_running(), "the receiver died"

            # the queues are empty again within 60 s (RQ and /metrics agree)
            def drained() -> bool:
                if any(client.llen(f"rq:queue:{name}") != 0 for name in QUEUES):
                    return False
                text = metrics_text(triaged.base_url)
                return all(
                    metric(text, "triaged_queue_depth", queue=name) == 0
                    for name in (*QUEUES, "outbox")
                )

            wait_until(drained, timeout=DRAIN_S, interval=0.5, message="queue back to empty")
            print(f"queue empty {time.monotonic() - storm_end:.1f}s after the storm")

            latencies = [p.took for p in probes if p.status == 200]
            failures = [p for p in probes if p.status != 200]
            assert not failures, failures[:5]
            p99 = percentile(latencies, 0.99)
            print(
                f"/alive: {len(latencies)} polls, p99 {p99 * 1000:.0f} ms, max "
                f"{max(latencies) * 1000:.0f} ms"
            )
            assert len(latencies) >= 50, "the poller barely ran"
            assert p99 < ALIVE_P99_S, f"/alive p99 {p99:.3f}s"

            growth_mb = (receiver.memory_info().rss - rss_before) / 2**20
            print(f"receiver RSS grew {growth_mb:.1f} MB")
            assert growth_mb < RSS_GROWTH_MB

            details = all_incident_details(triaged.base_url)
            assert len(details) == GROUPS
            seen = Counter(
                (a["labels"]["service"], a["labels"]["n"]) for d in details for a in d["alerts"]
            )
            expected = {
                (f"svc-{g}", str(n))
                for g in range(GROUPS)
                for n in range(REQUESTS // GROUPS * PER_REQUEST)
            }
            assert set(seen) == expected, f"missing {len(expected - set(seen))} alerts"
            assert all(c == 1 for c in seen.values())

            ids = {d["id"] for d in details}
            wait_until(
                lambda: len(pages.requests("/primary")) >= GROUPS,
                timeout=30,
                message="every incident paged",
            )
            time.sleep(1.0)
            per_incident = Counter(r.json["incident_id"] for r in pages.requests("/primary"))
            assert set(per_incident) == ids
            assert max(per_incident.values()) == 1, per_incident.most_common(3)
            # A queue backlog is not a loss: the reconciler should leave queued work
            # alone. Not asserted: under load it sometimes re-drives a step whose job
            # finished while it looked (harmless: the re-drive finds the step done).
            text = metrics_text(triaged.base_url)
            redriven = metric_sum(text, "triaged_escalations_redriven_total")
            print(f"re-driven during the storm: {redriven:g} {_redrives(triaged.base_url)}")
            client.close()


def _redrives(base_url: str) -> list[str]:
    """Each re-drive: its member, and when it came relative to the step's last page."""
    out = []
    for detail in all_incident_details(base_url):
        sent = [datetime.fromisoformat(e["time"]) for e in timeline(detail, "page_sent")]
        for entry in timeline(detail, "redriven"):
            at = datetime.fromisoformat(entry["time"])
            after = f"{(at - sent[-1]).total_seconds():+.3f}s from page_sent" if sent else ""
            out.append(f"{entry['member']} {after}")
    return out


async def _storm(url: str) -> tuple[list[list[tuple[int, str | None]]], float]:
    """1,000 requests paced evenly over STORM_S; 503s retried after their Retry-After."""
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"}
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.monotonic()

        async def one(i: int) -> list[tuple[int, str | None]]:
            group, chunk = i % GROUPS, i // GROUPS
            first = chunk * PER_REQUEST
            body = am_body("Storm", f"svc-{group}", range(first, first + PER_REQUEST))
            await asyncio.sleep(max(0.0, t0 + i * STORM_S / REQUESTS - time.monotonic()))
            attempts: list[tuple[int, str | None]] = []
            for _ in range(MAX_RETRIES):
                async with session.post(
                    url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                ) as response:
                    await response.read()
                    retry_after = response.headers.get("Retry-After")
                    attempts.append((response.status, retry_after))
                if response.status != 503:
                    break
                await asyncio.sleep(min(float(retry_after or 1), 2.0))
            return attempts

        answers = await asyncio.gather(*(one(i) for i in range(REQUESTS)))
        return answers, time.monotonic() - t0
