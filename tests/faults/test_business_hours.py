"""A SEV-3 that fires at 22:00 on a Friday is paged on Monday at the opening of
business hours, not before: `triaged run` under libfaketime (Debian package
`faketime`; every child, the embedded Redis included, shares the faked clock),
started on Friday night, stopped, and started again on Monday just before 09:00
over the same data, as a weekend would pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import am_body
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

FRIDAY_22H_BERLIN = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)  # Friday 22:00 in Berlin (CET)
MONDAY_JUST_BEFORE_9H = datetime(2026, 11, 30, 7, 59, 55, tzinfo=UTC)  # Monday 08:59:55 there


def write_rules(directory: Path, pages: PageReceiver) -> Path:
    directory.mkdir()
    (directory / "rules.yaml").write_text(
        "severities:\n  SEV-3: {response_time: business_day, page: business_hours}\n"
        "default_severity: SEV-3\n"
        "business_hours: {timezone: Europe/Berlin, days: [mon, tue, wed, thu, fri],"
        " start: '09:00', end: '17:00'}\n"
        "contacts:\n"
        f"  primary: {{role: Primary, channels: [{{webhook: '{pages.url('/primary')}'}}]}}\n"
        "escalation:\n  SEV-3: [{notify: [primary]}]\n"
    )
    return directory


def faked(lib: str, at: datetime) -> dict[str, str | None]:
    """The clock moved to ``at`` (a relative offset: the clock keeps ticking, and
    sleeps and timeouts work as usual)."""
    offset = int((at - datetime.now(UTC)).total_seconds())
    return {"LD_PRELOAD": lib, "FAKETIME": f"{offset:+d}", "TZ": "UTC"}


def timeline(triaged: TriagedProcess, incident_id: str) -> list[dict[str, Any]]:
    status, detail = triaged.get_json(f"/api/v1/incidents/{incident_id}")
    assert status == 200, detail
    return list(detail["timeline"])


def test_a_friday_night_sev3_is_paged_on_monday_at_opening(
    tmp_path: Path, faketime_lib: str
) -> None:
    with PageReceiver() as pages:
        rules = write_rules(tmp_path / "rules", pages)
        data = tmp_path / "data"
        with TriagedProcess(rules, data, env=faked(faketime_lib, FRIDAY_22H_BERLIN)) as friday:
            status, answer = friday.post_json(
                "/api/v1/alerts/alertmanager", json.loads(am_body("DiskSlow", "reports", [1]))
            )
            assert status == 202, answer
            incident_id = answer["incidents"][0]["id"]

            def deferred() -> list[str]:
                return [
                    e["detail"]
                    for e in timeline(friday, incident_id)
                    if e["kind"] == "page_deferred"
                ]

            [detail] = wait_until(deferred, timeout=20, message="the first page deferred")
            assert "2026-11-30T08:00:00+00:00" in detail, detail  # 09:00 in Berlin
            assert pages.requests("/primary") == []
        with TriagedProcess(rules, data, env=faked(faketime_lib, MONDAY_JUST_BEFORE_9H)) as monday:
            [page] = pages.wait_for_count(1, "/primary", timeout=40)
            assert page.json["severity"] == "SEV-3" and page.json["incident_id"] == incident_id
            [sent] = wait_until(
                lambda: [e for e in timeline(monday, incident_id) if e["kind"] == "page_sent"],
                timeout=10,
                message="the page recorded",
            )
            when = sent.get("time") or sent.get("at")
            assert str(when) >= "2026-11-30T08:00:00", sent  # not before Monday 09:00 in Berlin
