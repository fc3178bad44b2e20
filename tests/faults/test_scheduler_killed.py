"""The scheduler killed with an escalation step due in 10 s. RQ's own scheduler is not
used: the auditor process of each ``triaged worker`` moves scheduled jobs to their
queues by Redis time, one auditor at a time (``triaged:reconciler-lock``, PX 1000,
renewed every 0.2 s by its holder). The step still pages, once, within 90 s of its
due time, whether

- the auditor holding the lock is SIGKILLed (another worker's auditor takes the
  lock over within about a second), or
- every auditor of every worker is SIGKILLed (each worker starts its auditor again
  at its next RQ maintenance step, within the 15 s dequeue timeout).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import (
    all_incident_details,
    am_body,
    auditor_pid,
    auditors_of,
    kill_pid,
    lock_holder,
    metric_sum,
    metrics_text,
    redis_client_of,
    step_due,
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
EARLY_TOLERANCE_S = 0.1  # Redis TIME -> this process's monotonic clock, a few ms
AUDITOR_RESTART_S = 30.0  # the 15 s dequeue timeout, a spawn, and slack


def _rules(tmp_path: Path, pages: PageReceiver) -> Path:
    return write_rules(
        tmp_path / "rules",
        {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
        [(None, ["primary"]), (f"{STEP_AFTER_S:g}s", ["lead"])],
    )


def _fire(triaged: TriagedProcess, alertname: str, pages: PageReceiver) -> tuple[str, float]:
    """One SEV-1 incident; return its id and when its step 1 is due (monotonic)."""
    status, answer = triaged.post_json(
        "/api/v1/alerts/alertmanager", json.loads(am_body(alertname, "checkout", [1]))
    )
    assert status == 202, answer
    incident_id = answer["incidents"][0]["id"]
    pages.wait_for_count(1, "/primary", timeout=20)

    def scheduled() -> dict[str, Any] | None:
        _, detail = triaged.get_json(f"/api/v1/incidents/{incident_id}")
        return detail if timeline(detail, "escalation_scheduled") else None

    detail = wait_until(scheduled, timeout=10, message="step 1 scheduled")
    return incident_id, step_due(detail, 1)


def _lead_paged_once(triaged: TriagedProcess, pages: PageReceiver, due: float) -> float:
    """Wait for step 1's page; check it came once, not early; return its lateness."""
    [lead] = pages.wait_for_count(
        1, "/lead", timeout=max(1.0, due + LATE_BOUND_S - time.monotonic())
    )
    late = lead.at - due
    assert late >= -EARLY_TOLERANCE_S, f"paged {-late:.2f}s early"
    assert lead.json["escalation_step"] == 1
    assert 200 <= lead.status < 300
    # another auditor / a re-drive must not page the step again
    time.sleep(3.0)
    assert len(pages.requests("/lead")) == 1, [r.at - due for r in pages.requests("/lead")]
    assert len(pages.requests("/primary")) == 1
    [detail] = all_incident_details(triaged.base_url)
    assert [e["contact"] for e in timeline(detail, "page_sent")] == ["primary", "lead"]
    return late


def test_lock_holding_auditor_killed_escalation_still_pages_once(tmp_path: Path) -> None:
    with PageReceiver() as pages:
        with TriagedProcess(_rules(tmp_path, pages), tmp_path / "data", workers=2) as triaged:
            client = redis_client_of(triaged)
            _, due = _fire(triaged, "NoScheduler", pages)

            holder = lock_holder(client, workers_of(triaged))
            kill_pid(holder.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            assert killed_at < due - 2, "the step came due before the auditor was killed"
            assert not wait_gone([holder], timeout=5)

            # another worker's auditor takes the lock over within about a second
            successor = wait_until(
                lambda: (pid := auditor_pid(client)) not in (None, holder.pid) and pid,
                timeout=5,
                interval=0.05,
                message="another auditor holds the lock",
            )
            took_over = time.monotonic() - killed_at
            assert lock_holder(client, workers_of(triaged)).pid == successor

            late = _lead_paged_once(triaged, pages, due)
            text = metrics_text(triaged.base_url)
            redriven = metric_sum(text, "triaged_escalations_redriven_total")
            print(
                f"lock taken over {took_over:.2f}s after the kill; escalation paged "
                f"{late:+.2f}s from its due time; re-driven {redriven:g}"
            )
            client.close()


def test_every_auditor_killed_escalation_still_pages_once(tmp_path: Path) -> None:
    """Nothing moves scheduled jobs until a worker notices its auditor is dead (RQ's
    maintenance step, at most a dequeue timeout away) and starts it again."""
    with PageReceiver() as pages:
        with TriagedProcess(_rules(tmp_path, pages), tmp_path / "data", workers=2) as triaged:
            client = redis_client_of(triaged)
            _, due = _fire(triaged, "NoAuditors", pages)

            workers = workers_of(triaged)
            assert len(workers) == 3, workers  # 2 page workers, 1 probe worker
            auditors = {w.pid: auditors_of(w) for w in workers}
            assert all(len(a) == 1 for a in auditors.values()), auditors
            killed = [a for found in auditors.values() for a in found]
            for auditor in killed:
                kill_pid(auditor.pid, signal.SIGKILL)
            killed_at, killed_wall = time.monotonic(), time.time()
            assert killed_at < due - 2, "the step came due before the auditors were killed"
            assert not wait_gone(killed, timeout=5)
            old = {a.pid for a in killed}

            late = _lead_paged_once(triaged, pages, due)

            def restarted() -> list[float] | None:
                """Seconds from the kill to each worker's new auditor process, once every
                worker has one."""
                new = [[a for a in auditors_of(w) if a.pid not in old] for w in workers]
                if not all(new):
                    return None
                return [found[0].create_time() - killed_wall for found in new]

            back = wait_until(
                restarted,
                timeout=max(1.0, killed_at + AUDITOR_RESTART_S - time.monotonic()),
                interval=0.1,
                message="every worker restarted its auditor",
            )
            text = metrics_text(triaged.base_url)
            redriven = metric_sum(text, "triaged_escalations_redriven_total")
            print(
                f"step due {due - killed_at:.1f}s after the kill; auditors started again "
                f"{sorted(round(b, 1) for b in back)}s after it; escalation paged "
                f"{late:+.2f}s from its due time; re-driven {redriven:g}"
            )
            client.close()
