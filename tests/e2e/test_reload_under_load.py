"""A rules edit on a running `triaged run`, under a steady stream of alerts: a broken
file (SIGHUP) keeps the old rules paging and every post accepted, /health says
degraded with the errors; the fixed file is picked up by the watcher alone; every
POST of the whole run answered 202."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_triaged_run import sample
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.payloads import alertmanager_payload, group_key_for
from tests.support.wait import wait_until

pytestmark = pytest.mark.e2e

MAX_POSTS = 3000  # the load stops by itself at this count or after MAX_SECONDS
MAX_SECONDS = 60.0
PACE_S = 0.02  # a steady stream (~50 posts/s), not a storm: pages must keep flowing


def payload(alertname: str, **labels: str) -> dict[str, Any]:
    alert = {
        "labels": {"alertname": alertname, **labels},
        "annotations": {"summary": alertname},
        "startsAt": "2026-11-26T10:00:00Z",
    }
    return alertmanager_payload([alert], group_key=group_key_for({"alertname": alertname}))


def write_rules(directory: Path, pages: PageReceiver) -> Path:
    directory.mkdir()
    (directory / "contacts.yaml").write_text(
        "default_severity: SEV-4\n"
        f"contacts:\n  oncall: {{role: On call, channels: [{{webhook: '{pages.url('/page')}'}}]}}\n"
        "escalation:\n  SEV-1: [{notify: [oncall]}]\n"
    )
    (directory / "checkout.yaml").write_text(
        "rules:\n  - name: checkout-down\n    matchers: ['service = \"checkout\"']\n"
        "    severity: SEV-1\n"
    )
    return directory


class Load:
    """Posts SEV-4 alerts (each a new incident) from a thread until stopped or bounded.

    Paced: each new incident is a job on the pages queue, and one forking worker
    runs ~50 a second; a faster stream would delay every page behind it (the test
    is about reloads, not about a storm)."""

    def __init__(self, daemon: TriagedProcess) -> None:
        self.daemon = daemon
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        for i in range(MAX_POSTS):
            if self.stop.is_set() or time.monotonic() - started > MAX_SECONDS:
                return
            status, _ = self.daemon.post_json(
                "/api/v1/alerts/alertmanager", payload(f"Load{i}", service="batch")
            )
            self.statuses.append(status)
            self.stop.wait(PACE_S)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(MAX_SECONDS)


def paged(daemon: TriagedProcess, pages: PageReceiver, body: dict[str, Any]) -> Any:
    """Post ``body``; wait for its incident's page; return the incident's decision."""
    status, answer = daemon.post_json("/api/v1/alerts/alertmanager", body)
    assert status == 202, answer
    incident_id = answer["incidents"][0]["id"]

    def page_sent() -> bool:
        return any(r.json.get("incident_id") == incident_id for r in pages.requests("/page"))

    wait_until(page_sent, 20, message=f"a page for {body['alerts'][0]['labels']}")
    _, incident = daemon.get_json(f"/api/v1/incidents/{incident_id}")
    return incident["decision"]


def test_a_broken_edit_under_load_keeps_paging_then_the_fix_is_picked_up(tmp_path: Path) -> None:
    with PageReceiver() as pages:
        rules_dir = write_rules(tmp_path / "rules", pages)
        with TriagedProcess(rules_dir, tmp_path / "data") as daemon, Load(daemon) as load:
            _, before = daemon.get_json("/api/v1/rules")
            wait_until(lambda: len(load.statuses) >= 20, 30, message="load running")

            # a broken edit, and SIGHUP (the supervisor hands it to the receiver)
            (rules_dir / "checkout.yaml").write_text(
                "rules:\n  - name: checkout-down\n    matchers: ['service = \"checkout\"']\n"
                "    severity: SEV-0\n"
            )
            os.kill(daemon.pid, signal.SIGHUP)

            def degraded() -> Any:
                status, doc = daemon.get_json("/health")
                return doc if status == 200 and doc["status"] == "degraded" else None

            doc = wait_until(degraded, 15, message="/health degraded")
            [error] = doc["checks"]["rules_errors"]
            assert error.startswith(f"{rules_dir}/checkout.yaml:4:15: rules[0].severity:")
            assert doc["checks"]["rules"] == before["version"]
            _, metrics = daemon.get_json("/metrics")
            assert sample(metrics, "triaged_rules_last_reload_successful") == 0
            _, shown = daemon.get_json("/api/v1/rules")
            assert shown["last_reload"]["reason"] == "SIGHUP"  # not the watcher

            # the old rules still page
            decision = paged(daemon, pages, payload("CheckoutDown", service="checkout"))
            assert decision["rules_version"] == before["version"]

            # fixed, with a new rule: the watcher alone picks it up (no signal)
            (rules_dir / "checkout.yaml").write_text(
                "rules:\n  - name: checkout-down\n    matchers: ['service = \"checkout\"']\n"
                "    severity: SEV-1\n"
                "  - name: payments-down\n    matchers: ['service = \"payments\"']\n"
                "    severity: SEV-1\n"
            )

            def reloaded() -> Any:
                status, doc = daemon.get_json("/health")
                fine = status == 200 and doc["status"] == "ok"
                return doc if fine and doc["checks"]["rules"] != before["version"] else None

            new_version = wait_until(reloaded, 20, message="fixed rules loaded")["checks"]["rules"]
            _, metrics = daemon.get_json("/metrics")
            assert sample(metrics, "triaged_rules_last_reload_successful") == 1
            decision = paged(daemon, pages, payload("PaymentsDown", service="payments"))
            assert (decision["rule"], decision["rules_version"]) == ("payments-down", new_version)
            wait_until(lambda: len(load.statuses) >= 100, 30, message="load kept going")
        # no request failed, across the broken edit, both reloads and the fix
        assert len(load.statuses) >= 100
        assert set(load.statuses) == {202}, sorted(set(load.statuses))
