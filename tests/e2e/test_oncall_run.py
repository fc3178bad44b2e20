"""Issue 6's end-to-end case through `triaged run`: a rule names its team's
escalation policy; the policy's first step pages a rotation with nobody on call (it
falls through at once, and says so), the next pages the first rotation's person, and
an unacknowledged SEV-1 walks on to the second rotation's person."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.payloads import alertmanager_payload, group_key_for

pytestmark = pytest.mark.e2e


def write_rules(directory: Path, pages: PageReceiver) -> Path:
    directory.mkdir()
    people = "".join(
        f"  {n}: {{role: {n}, channels: [{{webhook: '{pages.url('/' + n)}'}}]}}\n"
        for n in ("alice", "bob", "carol", "nobody")
    )
    (directory / "oncall.yaml").write_text(
        "severities:\n  SEV-1: {response_time: 1h, page: immediately}\n"
        "contacts:\n" + people + "rotations:\n"
        "  later: {members: [nobody], length: daily, handoff: '09:00', timezone: UTC,"
        " start: 2099-01-01}\n"
        "  primary: {members: [alice], length: weekly, handoff: '09:00', timezone: Europe/Berlin,"
        " start: 2026-01-05}\n"
        "  secondary: {members: [bob, carol], length: daily, handoff: '00:00', timezone: UTC,"
        " start: 2026-01-01,\n"
        "              overrides: [{who: bob, start: '2026-01-01T00:00',"
        " end: '2099-01-01T00:00'}]}\n"
        "policies:\n"
        "  checkout-team:\n"
        "    SEV-1:\n"
        "      - rotations: [later]\n"
        "      - {after: 30s, rotations: [primary]}\n"
        "      - {after: 2s, rotations: [secondary]}\n"
        "escalation:\n  SEV-1: [{notify: [carol]}]\n"
        "rules:\n"
        "  - {name: checkout, matchers: ['service = \"checkout\"'], severity: SEV-1,"
        " policy: checkout-team}\n"
    )
    return directory


def test_an_unacknowledged_sev1_walks_the_policy_to_the_second_rotation(tmp_path: Path) -> None:
    with PageReceiver() as pages:
        with TriagedProcess(write_rules(tmp_path / "rules", pages), tmp_path / "data") as triaged:
            alert = {
                "labels": {"alertname": "CheckoutDown", "service": "checkout"},
                "annotations": {"summary": "checkout is down"},
                "startsAt": "2026-11-26T10:00:00Z",
            }
            group = group_key_for({"alertname": "CheckoutDown"})
            posted = time.monotonic()
            status, answer = triaged.post_json(
                "/api/v1/alerts/alertmanager", alertmanager_payload([alert], group_key=group)
            )
            assert status == 202, answer
            incident_id = answer["incidents"][0]["id"]
            # nobody on call in "later": no wait for the next step's 30 s delay
            [alice] = pages.wait_for_count(1, "/alice", timeout=15)
            assert alice.at - posted < 10
            [bob] = pages.wait_for_count(1, "/bob", timeout=20)  # the override holds bob
            assert bob.at - alice.at >= 1.5
            assert pages.requests("/carol") == [] and pages.requests("/nobody") == []
            _, detail = triaged.get_json(f"/api/v1/incidents/{incident_id}")
            fell = [e["detail"] for e in detail["timeline"] if e["kind"] == "step_fell_through"]
            assert fell == ["step 0: nobody on call in later; falling through to step 1 at once"]
            assert "escalation policy checkout-team" in detail["decision"]["why"]
            status, oncall = triaged.get_json("/api/v1/oncall")
            assert status == 200
            assert oncall["rotations"]["primary"]["now"]["person"] == "alice"
            assert oncall["rotations"]["secondary"]["now"]["person"] == "bob"
            assert oncall["rotations"]["later"]["now"] is None
