"""An RQ worker and its work horse SIGKILLed while a page is being sent: the page is
re-sent well within 90 s of the kill (its step's lease lapses within 15 s and the
reconciler re-drives the step: RQ's own abandoned-job handling alone took ~77 s), with
the same Idempotency-Key, delivered exactly once with a 2xx; the killed worker's
auditor goes away by itself, RQ's started registry empties and the supervisor
restarts the killed worker."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psutil
import pytest
from rq.registry import StartedJobRegistry

from tests.faults.conftest import (
    QUEUE,
    all_incident_details,
    am_body,
    auditors_of,
    kill_pid,
    live_processes,
    metric,
    metrics_text,
    reap_orphans,
    redis_client_of,
    talks_to,
    timeline,
    wait_gone,
    work_horse_of,
    workers_of,
    write_rules,
)
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

# The lease lapses 10-15 s after the kill (15 s TTL, heartbeat every 5 s), then the
# reconciler (once a second) re-drives the step: ~15-20 s. Without leases and the
# reconciler, RQ notices the dead job only after ~77 s.
RESEND_DEADLINE_S = 45.0
ORPHAN_EXIT_S = 5.0  # an auditor checks its parent every 0.2 s
REGISTRY_DEADLINE_S = 150.0


def test_worker_and_horse_killed_mid_page_page_still_delivered_once(tmp_path: Path) -> None:
    orphans: list[int] = []
    with PageReceiver() as pages:
        pages.hang("/primary", 120.0)  # the first send stays in flight until the kill
        rules = write_rules(
            tmp_path / "rules",
            {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
            [(None, ["primary"]), ("10m", ["lead"])],
            webhook_timeout="60s",
        )
        try:
            with TriagedProcess(rules, tmp_path / "data", workers=2) as triaged:
                client = redis_client_of(triaged)
                status, answer = triaged.post_json(
                    "/api/v1/alerts/alertmanager", json.loads(am_body("KillMe", "checkout", [1]))
                )
                assert status == 202, answer
                incident_id = answer["incidents"][0]["id"]

                [first] = pages.wait_for_count(1, "/primary", timeout=20)
                key = first.headers["Idempotency-Key"]

                def busy_worker() -> tuple[psutil.Process, psutil.Process] | None:
                    """The worker whose work horse has the page's connection open."""
                    for worker in workers_of(triaged):
                        horse = work_horse_of(worker)
                        if horse is not None and talks_to(horse, pages.port):
                            return worker, horse
                    return None

                worker, horse = wait_until(
                    busy_worker, timeout=10, message="the work horse sending the page"
                )
                workers_before = len(workers_of(triaged))
                # the worker's other children (its auditor, multiprocessing's resource
                # tracker) are nobody's to stop once it is SIGKILLed: they must leave
                # by themselves
                orphans = [p.pid for p in worker.children() if p.pid != horse.pid]
                assert len(auditors_of(worker)) == 1, worker.children()
                kill_pid(horse.pid, signal.SIGKILL)
                kill_pid(worker.pid, signal.SIGKILL)
                killed_at = time.monotonic()
                wait_gone([worker, horse], timeout=5)
                pages.hang("/primary", 0)  # from now on the page receiver answers 202

                lingering = wait_gone(live_processes(orphans), ORPHAN_EXIT_S)
                assert not lingering, (
                    f"the killed worker's children still run {ORPHAN_EXIT_S:g}s later: "
                    f"{[p.pid for p in lingering]}"
                )

                def resent() -> list[object]:
                    return [r for r in pages.requests("/primary") if r.at > killed_at]

                try:
                    again = wait_until(
                        resent,
                        timeout=RESEND_DEADLINE_S,
                        interval=0.1,
                        message=f"the page re-sent within {RESEND_DEADLINE_S:g}s of the kill",
                    )[0]
                except AssertionError as exc:
                    exc.add_note(f"timeline: {_timeline(triaged, incident_id)}")
                    raise
                took = again.at - killed_at
                print(f"page re-sent {took:.1f}s after the kill")
                assert again.headers["Idempotency-Key"] == key
                assert 200 <= again.status < 300, again.status

                registry = StartedJobRegistry(QUEUE, connection=client)
                try:
                    wait_until(
                        lambda: registry.count == 0,
                        timeout=max(1.0, REGISTRY_DEADLINE_S - (time.monotonic() - killed_at)),
                        interval=0.5,
                        message="RQ's started registry empty",
                    )
                except AssertionError as exc:
                    exc.add_note(f"still started: {registry.get_job_ids()}")
                    raise
                print(f"RQ's started registry empty {time.monotonic() - killed_at:.1f}s after")
                # the supervisor replaced the killed worker, which runs an auditor again
                wait_until(
                    lambda: (
                        len(workers_of(triaged)) == workers_before
                        and all(len(auditors_of(w)) == 1 for w in workers_of(triaged))
                    ),
                    timeout=15,
                    message="the killed worker replaced, with its auditor",
                )

                requests = pages.requests("/primary")
                assert {r.headers["Idempotency-Key"] for r in requests} == {key}
                after_kill = [r for r in requests if r.at > killed_at]
                assert len(after_kill) == 1, (
                    f"page delivered {len(after_kill)} times after the kill (re-sent after "
                    f"{took:.1f}s): {[(r.at - killed_at, r.status) for r in after_kill]}"
                )
                assert pages.requests("/lead") == []
                [detail] = all_incident_details(triaged.base_url)
                assert detail["id"] == incident_id
                sent = timeline(detail, "page_sent")
                assert len(sent) == 1, detail["timeline"]
                assert sent[0]["contact"] == "primary"
                # the reconciler re-drove the step (not RQ's retry of the dead job)
                redriven = timeline(detail, "redriven")
                assert [e["member"] for e in redriven] == [f"page:{incident_id}:1:0:0"], redriven
                text = metrics_text(triaged.base_url)
                assert metric(text, "triaged_escalations_redriven_total", kind="page") == 1
                assert metric(text, "triaged_pages_total", channel="webhook", outcome="sent") == 1
                client.close()
        finally:
            reap_orphans(orphans)


def _timeline(triaged: TriagedProcess, incident_id: str) -> list[tuple[str, str]]:
    _, detail = triaged.get_json(f"/api/v1/incidents/{incident_id}")
    return [(e["kind"], e["detail"]) for e in detail.get("timeline", [])]
