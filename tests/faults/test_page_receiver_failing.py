"""Page receivers that fail: 5xx, 429, a hang longer than the channel's timeout and a
refused connection are retried with backoff, each attempt bounded, until the step's
time runs out; then the next step pages the next contact and the timeline says why.
A 400 is not retried: it is recorded as misconfigured and counted.

One incident exercises every failure at once: its first step pages five contacts,
each behind a differently failing channel (``timeout: 1s`` on every webhook); its
second step (``after: 12s``, so the first step's budget is 12 s) pages the lead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import (
    all_incident_details,
    am_body,
    get_json,
    metric,
    metrics_text,
    step_due,
    timeline,
    write_rules,
)
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver, Recorded
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

STEP_S = 12.0  # the second step's `after`: the first step's retry budget
TIMEOUT_S = 1.0  # every webhook's per-attempt timeout
HANG_S = 5.0
MIN_BACKOFF_S = 0.25  # half the first backoff (0.5 s, jittered down to half)
RETRIED = ("c5xx", "c429", "chang", "crefused")


def test_failing_page_receivers_retried_within_the_step_then_escalated(tmp_path: Path) -> None:
    with PageReceiver() as pages, PageReceiver() as refusing:
        pages.respond("/c5xx", status=503)
        pages.respond("/c429", status=429, headers={"Retry-After": "1"})
        pages.hang("/chang", HANG_S)
        pages.respond("/cbad", status=400, body={"error": "no such route"})
        contacts = {
            "c5xx": pages.url("/c5xx"),
            "c429": pages.url("/c429"),
            "chang": pages.url("/chang"),
            "crefused": refusing.url("/crefused"),
            "cbad": pages.url("/cbad"),
            "lead": pages.url("/lead"),
        }
        rules = write_rules(
            tmp_path / "rules",
            contacts,
            [(None, ["c5xx", "c429", "chang", "crefused", "cbad"]), (f"{STEP_S:g}s", ["lead"])],
            webhook_timeout=f"{TIMEOUT_S:g}s",
        )
        refusing.close()  # its port now refuses connections
        with TriagedProcess(rules, tmp_path / "data", workers=2) as triaged:
            status, answer = triaged.post_json(
                "/api/v1/alerts/alertmanager", json.loads(am_body("PagerDown", "checkout", [1]))
            )
            assert status == 202, answer
            incident_id = answer["incidents"][0]["id"]
            pages.wait_for_count(1, "/c5xx", timeout=20)
            [lead] = pages.wait_for_count(1, "/lead", timeout=STEP_S + 20)
            assert lead.json["escalation_step"] == 1
            assert lead.json["incident_id"] == incident_id
            # due by Redis time: a job moved up to a second early waits for it
            due = step_due(get_json(triaged.base_url, f"/api/v1/incidents/{incident_id}"), 1)
            assert lead.at >= due - 0.1, f"lead paged {due - lead.at:.2f}s early"

            def failed_entries() -> dict[str, dict[str, Any]] | None:
                status, detail = triaged.get_json(f"/api/v1/incidents/{incident_id}")
                entries = {e["contact"]: e for e in timeline(detail, "page_failed")}
                return entries if set(entries) >= {*RETRIED, "cbad"} else None

            failed = wait_until(
                failed_entries,
                timeout=STEP_S + 15,
                interval=0.2,
                message="a page_failed entry for each failing contact",
            )
            for contact in RETRIED:
                entry = failed[contact]
                assert entry["step"] == 0, entry
                assert entry["attempts"] >= 2, f"{contact} not retried: {entry}"
                assert "retries spent" in entry["detail"] or "gave up" in entry["detail"], entry
                assert "misconfigured" not in entry["detail"], entry
            assert "timeout" in failed["chang"]["detail"], failed["chang"]
            bad = failed["cbad"]
            assert bad["attempts"] == 1 and "misconfigured" in bad["detail"], bad
            assert len(pages.requests("/cbad")) == 1, "a 400 was retried"

            for path, least_gap in (("/c5xx", 0), ("/c429", 0), ("/chang", TIMEOUT_S)):
                _check_attempts(path, pages.requests(path), least_gap, failed[path[1:]])

            # the timeline tells the story in order: step 0 given up, step 1 paged the lead
            [detail] = all_incident_details(triaged.base_url)
            kinds = [(e["kind"], e.get("contact")) for e in detail["timeline"]]
            assert ("page_sent", "lead") in kinds, kinds
            steps = [e for e in timeline(detail, "escalation_step")]
            assert [e["step"] for e in steps] == [0, 1], steps

            text = metrics_text(triaged.base_url)
            assert metric(text, "triaged_pages_misconfigured_total", channel="webhook") == 1
            assert metric(text, "triaged_pages_total", channel="webhook", outcome="failed") == 5
            assert metric(text, "triaged_pages_total", channel="webhook", outcome="sent") == 1
            retried = metric(text, "triaged_pages_total", channel="webhook", outcome="retried")
            assert retried == sum(failed[c]["attempts"] - 1 for c in RETRIED), retried


def _check_attempts(
    path: str, attempts: list[Recorded], least_gap: float, entry: dict[str, Any]
) -> None:
    """Same key every time, spaced by backoff (plus the attempt's own bound for a hang),
    all within the step's budget, as many as the timeline says."""
    assert len(attempts) >= 2, f"{path}: {len(attempts)} attempt(s)"
    assert len(attempts) == entry["attempts"], (path, len(attempts), entry)
    keys = {a.headers["Idempotency-Key"] for a in attempts}
    assert len(keys) == 1, f"{path}: keys {keys}"
    gaps = [b.at - a.at for a, b in zip(attempts, attempts[1:], strict=False)]
    assert min(gaps) >= least_gap + MIN_BACKOFF_S - 0.05, f"{path}: gaps {gaps}"
    span = attempts[-1].at - attempts[0].at
    assert span <= STEP_S + 0.5, f"{path}: retried for {span:.1f}s, beyond the step's budget"
