"""An RQ worker and its work horse SIGKILLed while a page is being sent: the page is
still delivered, once (the same Idempotency-Key on every try), and RQ's started
registry empties; a surviving worker re-drives the work, the supervisor restarts the
killed one."""

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
    kill_pid,
    live_processes,
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

DELIVERY_DEADLINE_S = 90.0
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
                # whatever else the worker forked (RQ's scheduler, ...) outlives a SIGKILL
                # of the worker: remember it, so it can be reported and reaped
                orphans = [p.pid for p in worker.children() if p.pid != horse.pid]
                kill_pid(horse.pid, signal.SIGKILL)
                kill_pid(worker.pid, signal.SIGKILL)
                killed_at = time.monotonic()
                wait_gone([worker, horse], timeout=5)
                pages.hang("/primary", 0)  # from now on the page receiver answers 202

                def delivered() -> list[object]:
                    return [r for r in pages.requests("/primary") if r.at > killed_at]

                wait_until(
                    delivered,
                    timeout=DELIVERY_DEADLINE_S,
                    interval=0.2,
                    message=f"the page re-sent within {DELIVERY_DEADLINE_S:g}s of the kill",
                )
                took = time.monotonic() - killed_at
                print(f"page re-sent {took:.1f}s after the kill")

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
                # the supervisor replaced the killed worker
                wait_until(
                    lambda: len(workers_of(triaged)) == workers_before,
                    timeout=15,
                    message="the killed worker replaced",
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
                client.close()
            # The killed worker's own children (its RQ scheduler, when it held the lock)
            # are nobody's to stop now: they must go away by themselves once
            # `triaged run` and its Redis are gone, not linger.
            lingering = wait_gone(live_processes(orphans), 10)
            assert not lingering, f"left running after triaged stopped: {lingering}"
        finally:
            reap_orphans(orphans)
