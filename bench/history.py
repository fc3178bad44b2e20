"""`python -m bench.history`: what the received history costs and how fast replay is.

20,000 Alertmanager alerts (2,000 posts of 10, each group a new incident) go through
the real receiver app (in process, aiohttp's test server on 127.0.0.1) into an
embedded Redis; then:

- bytes per alert: ``MEMORY USAGE`` of the history stream over the alerts it holds;
- replay: ``triaged replay``'s reading and classifying of all of them with the
  shipped product rules (``ReceivedLog`` + ``replay``), in alerts/s.

Bounded by the post count; prints its figures, writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bench.common import ROOT
from receiver.api.app import create_app
from receiver.incidents import keys
from receiver.incidents.history import ReceivedLog
from receiver.replay import replay
from receiver.settings import Settings
from receiver.supervisor import EmbeddedRedis
from rules import load_ruleset

POSTS = 2_000
PER_POST = 10
RULES = ROOT / "rules" / "examples" / "product"


def _body(i: int) -> bytes:
    alerts = [
        {
            "labels": {
                "alertname": "HighLatency",
                "service": f"svc-{i}",
                "instance": f"host-{j}:9100",
                "job": "node",
                "severity": "warning",
            },
            "annotations": {
                "summary": "p99 latency above 500 ms for 10 minutes",
                "runbook_url": "https://runbooks.example.com/latency",
            },
            "startsAt": "2026-11-26T10:00:00Z",
            "status": "firing",
        }
        for j in range(PER_POST)
    ]
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{service="svc-{i}"}}',
            "status": "firing",
            "receiver": "triaged",
            "groupLabels": {"service": f"svc-{i}"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093",
            "truncatedAlerts": 0,
            "alerts": alerts,
        }
    ).encode()


async def _ingest(url: str) -> None:
    settings = Settings(redis_url=url, ack_key=SecretStr("bench"), rules_poll_seconds=0)
    app = create_app(settings, load_ruleset(RULES))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for i in range(POSTS):
            resp = await client.post(
                "/api/v1/alerts/alertmanager",
                data=_body(i),
                headers={"Content-Type": "application/json"},
            )
            if resp.status != 202:
                raise RuntimeError(f"post {i}: {resp.status} {await resp.text()}")


def main() -> int:
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="triaged-bench-history-")))
    url = server.start()
    try:
        asyncio.run(_ingest(url))
        client = redis.Redis.from_url(url)
        kept = int(client.get(keys.received() + ":count") or 0)
        used = int(client.memory_usage(keys.received(), samples=0) or 0)
        since = datetime.now(UTC) - timedelta(hours=1)
        started = time.perf_counter()
        report = replay(ReceivedLog(client).since(since), load_ruleset(RULES), since)
        took = time.perf_counter() - started
        client.close()
    finally:
        server.stop()
    print(f"received history: {kept:,} alerts kept, {used:,} bytes, {used / kept:.0f} bytes/alert")
    print(
        f"replay: {report.replayed:,} alerts read and classified in {took:.2f} s "
        f"({report.replayed / took:,.0f} alerts/s), {len(report.changes):,} changed"
    )
    return 0 if kept == POSTS * PER_POST and report.replayed == kept else 1


if __name__ == "__main__":
    sys.exit(main())
