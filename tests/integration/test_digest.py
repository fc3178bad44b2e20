"""The SEV-4 digest, through the real app, Redis and RQ: SEV-4 incidents page nobody;
the digest, scheduled when the receiver starts, lists them to its contacts and posts
them as a ticket, and schedules the next one."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from receiver.api.app import create_app
from receiver.jobs import Kind, Work
from rules import load_ruleset
from tests.integration.conftest import body, checkout_payload, come_due, drained
from tests.support.page_receiver import PageReceiver
from workers.main import build_worker

JSON = {"Content-Type": "application/json"}


def rules(directory: Path, site: PageReceiver, at: str) -> Path:
    (directory / "rules.yaml").write_text(
        "severities: {SEV-4: {response_time: next_sprint, page: never}}\n"
        "contacts:\n"
        f"  oncall: {{role: On call, channels: [{{webhook: '{site.url('/page')}'}}]}}\n"
        f"  lead: {{role: Lead, channels: [{{webhook: '{site.url('/digest')}'}}]}}\n"
        "escalation: {SEV-1: [{notify: [oncall]}], SEV-4: [{notify: [oncall]}]}\n"
        "rules:\n"
        "  - {name: batch, matchers: ['service = \"batch\"'], severity: SEV-4}\n"
        "  - {name: down, matchers: ['service = \"checkout\"'], severity: SEV-1}\n"
        f"digest: {{notify: [lead], at: '{at}', timezone: UTC,"
        " days: [mon, tue, wed, thu, fri, sat, sun],"
        f" ticket_webhook: '{site.url('/ticket')}'}}\n"
    )
    return directory


async def test_sev4_incidents_go_to_the_digest_not_to_the_pager(
    aiohttp_client: Any, settings: Any, rules_dir: Path, redis_client: redis.Redis, queue: Any
) -> None:
    with PageReceiver() as site:
        at = (datetime.now(UTC) - timedelta(hours=1)).strftime("%H:%M")
        client = await aiohttp_client(
            create_app(settings, load_ruleset(rules(rules_dir, site, at)), os.environ)
        )
        [member] = [m for m in redis_client.zrange("triaged:due", 0, -1) if m.startswith("digest:")]
        scheduled = Work.from_member(member)
        assert scheduled.generation > datetime.now(UTC).timestamp()  # the next one, tomorrow
        for n, service in enumerate(["batch", "batch", "checkout"]):
            payload = checkout_payload(service=service, job=f"j{n}")
            payload["groupKey"] = f'{{}}:{{service="{service}", n="{n}"}}'
            resp = await client.post(
                "/api/v1/alerts/alertmanager", data=body(payload), headers=JSON
            )
            assert resp.status == 202, await resp.text()
        await drained(redis_client)
        build_worker(settings, simple=True).work(burst=True, with_scheduler=False)
        [paged] = site.requests("/page")  # the SEV-1 only
        assert paged.json["severity"] == "SEV-1"
        # the digest's time comes
        come_due(redis_client, queue, scheduled)
        build_worker(settings, simple=True, queues=("pages",)).work(
            burst=True, with_scheduler=False
        )
        [digest] = site.requests("/digest")
        assert digest.json["reason"] == "SEV-4 digest"
        assert digest.json["summary"].startswith("2 SEV-4 incidents since ")
        assert len(digest.json["diagnosis"]) == 2
        [ticket] = site.requests("/ticket")
        assert len(ticket.json["incidents"]) == 2
        # and the next digest is scheduled, a day later
        following = Work(Kind.DIGEST, "all", scheduled.generation + 24 * 3600)
        assert redis_client.zscore("triaged:due", following.member) == following.generation
