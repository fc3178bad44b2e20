"""The probe worker SIGKILLed while a probe hangs: the page is not lost or delayed
past the diagnosis budget (it goes out from the pages queue, the probe shown as
pending), and the supervisor starts a new probe worker. Probe workers run jobs in
process (no work horse), so the worker process itself is what dies."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.faults.conftest import am_body, kill_pid, talks_to, wait_gone, workers_of, write_rules
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

BUDGET_S = 2.0


def test_probe_worker_killed_mid_probe_page_still_goes_at_the_budget(tmp_path: Path) -> None:
    with PageReceiver() as pages:
        pages.hang("/health", 60.0)  # the probe stays in flight until the kill
        rules = write_rules(
            tmp_path / "rules",
            {"primary": pages.url("/primary")},
            [(None, ["primary"])],
            diagnosis_budget=f"{BUDGET_S:g}s",
        )
        (rules / "probes.yaml").write_text(
            f"probes:\n  slow: {{http: {{url: '{pages.url('/health')}', timeout: 30s}}}}\n"
        )
        text = (
            (rules / "rules.yaml")
            .read_text()
            .replace("severity: SEV-1\n", "severity: SEV-1\n    probes: [slow]\n")
        )
        (rules / "rules.yaml").write_text(text)
        with TriagedProcess(rules, tmp_path / "data", workers=1) as triaged:
            posted = time.monotonic()
            status, answer = triaged.post_json(
                "/api/v1/alerts/alertmanager", json.loads(am_body("ProbeHang", "checkout", [1]))
            )
            assert status == 202, answer

            def probing() -> object:
                for worker in workers_of(triaged):
                    if "probes" in " ".join(worker.cmdline()) and talks_to(worker, pages.port):
                        return worker
                return None

            worker = wait_until(probing, timeout=10, message="the probe worker probing")
            before = len(workers_of(triaged))
            kill_pid(worker.pid, signal.SIGKILL)
            wait_gone([worker], timeout=5)
            [page] = pages.wait_for_count(1, "/primary", timeout=20)
            took = page.at - posted
            print(f"paged {took:.1f}s after the POST (budget {BUDGET_S:g}s)")
            assert took < BUDGET_S + 8
            slow = {d["name"]: d for d in page.json["diagnosis"]}["slow"]
            assert slow["outcome"] == "pending"
            wait_until(
                lambda: len(workers_of(triaged)) == before,
                timeout=15,
                message="the supervisor started a new probe worker",
            )
