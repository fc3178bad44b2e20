"""RQ's scheduler process SIGKILLed with an escalation step due in 10 s: the step still
pages, once, within 90 s of its due time."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.faults.conftest import (
    SCHEDULER_LOCK,
    all_incident_details,
    am_body,
    kill_pid,
    metric_sum,
    metrics_text,
    redis_client_of,
    scheduler_pid,
    timeline,
    wait_gone,
    workers_of,
    write_rules,
)
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

STEP_AFTER_S = 10.0
LATE_BOUND_S = 90.0


def test_scheduler_killed_escalation_still_pages_once(tmp_path: Path) -> None:
    with PageReceiver() as pages:
        rules = write_rules(
            tmp_path / "rules",
            {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
            [(None, ["primary"]), (f"{STEP_AFTER_S:g}s", ["lead"])],
        )
        with TriagedProcess(rules, tmp_path / "data", workers=2) as triaged:
            client = redis_client_of(triaged)
            status, answer = triaged.post_json(
                "/api/v1/alerts/alertmanager", json.loads(am_body("NoScheduler", "checkout", [1]))
            )
            assert status == 202, answer
            [first] = pages.wait_for_count(1, "/primary", timeout=20)
            due = first.at + STEP_AFTER_S

            pid = wait_until(
                lambda: scheduler_pid(client), timeout=20, message="RQ's scheduler registered"
            )
            scheduler = psutil.Process(pid)
            parents = {w.pid for w in workers_of(triaged)}
            assert scheduler.ppid() in parents, (
                f"scheduler {pid} is not a worker's child: {scheduler.cmdline()}"
            )
            kill_pid(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            assert killed_at < due - 2, "the step came due before the scheduler was killed"
            wait_gone([scheduler], timeout=5)

            [lead] = pages.wait_for_count(
                1, "/lead", timeout=max(1.0, due + LATE_BOUND_S - time.monotonic())
            )
            late = lead.at - due
            print(f"escalation paged {late:+.1f}s from its due time (scheduler killed)")
            assert lead.at >= due - 1.0, f"paged {due - lead.at:.1f}s early"
            assert lead.json["escalation_step"] == 1
            # a second scheduler / a re-drive must not page the step again
            time.sleep(3.0)
            assert len(pages.requests("/lead")) == 1, [r.at - due for r in pages.requests("/lead")]
            assert len(pages.requests("/primary")) == 1
            [detail] = all_incident_details(triaged.base_url)
            assert [e["contact"] for e in timeline(detail, "page_sent")] == ["primary", "lead"]
            client.close()


def test_scheduler_killed_and_its_lock_held_the_auditor_redrives(tmp_path: Path) -> None:
    """No RQ scheduler can run (its lock is held by a scheduler that hangs, or sits on
    the far side of a partition): only the escalation auditor can send the step. It
    does, once, within 90 s of its due time, and counts it as re-driven."""
    with PageReceiver() as pages:
        rules = write_rules(
            tmp_path / "rules",
            {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
            [(None, ["primary"]), (f"{STEP_AFTER_S:g}s", ["lead"])],
        )
        with TriagedProcess(rules, tmp_path / "data", workers=2) as triaged:
            client = redis_client_of(triaged)
            status, answer = triaged.post_json(
                "/api/v1/alerts/alertmanager", json.loads(am_body("HungScheduler", "db", [1]))
            )
            assert status == 202, answer
            [first] = pages.wait_for_count(1, "/primary", timeout=20)
            due = first.at + STEP_AFTER_S
            pid = wait_until(
                lambda: scheduler_pid(client), timeout=20, message="RQ's scheduler registered"
            )
            # the lock now names a scheduler that never lets go: no worker can start one
            client.set(SCHEDULER_LOCK, "fault-test-hung-scheduler", ex=600)
            scheduler = psutil.Process(pid)
            kill_pid(pid, signal.SIGKILL)
            assert not wait_gone([scheduler], timeout=5)
            assert time.monotonic() < due - 2, "the step came due before the scheduler died"

            [lead] = pages.wait_for_count(
                1, "/lead", timeout=max(1.0, due + LATE_BOUND_S - time.monotonic())
            )
            print(f"escalation re-driven {lead.at - due:+.1f}s from its due time")
            assert lead.at >= due - 0.1, f"paged {due - lead.at:.1f}s early"
            assert lead.json["escalation_step"] == 1
            assert client.get(SCHEDULER_LOCK) == b"fault-test-hung-scheduler"
            time.sleep(3.0)
            assert len(pages.requests("/lead")) == 1
            assert len(pages.requests("/primary")) == 1
            text = metrics_text(triaged.base_url)
            assert metric_sum(text, "triaged_escalations_redriven_total") >= 1, [
                line for line in text.splitlines() if "redriven" in line
            ]
            client.close()
