"""`triaged run` as a user runs it: a subprocess on the embedded Redis, forking RQ
workers with the real scheduler, a real probe target and real page receivers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.payloads import alertmanager_payload, group_key_for
from tests.support.wait import wait_until

GROUP = group_key_for({"alertname": "CheckoutDown"})
ALERT = {
    "labels": {"alertname": "CheckoutDown", "service": "checkout"},
    "annotations": {"summary": "Checkout is down"},
    "startsAt": "2026-11-26T10:00:00Z",
}


def write_rules(directory: Path, pages: PageReceiver) -> Path:
    directory.mkdir()
    contacts = "".join(
        f"  {name}:\n    role: {name}\n    channels: [{{webhook: '{pages.url('/' + name)}'}}]\n"
        for name in ("primary", "lead", "manager")
    )
    (directory / "contacts.yaml").write_text(
        "contacts:\n" + contacts + "escalation:\n  SEV-1:\n"
        "    - notify: [primary]\n"
        "    - {after: 2s, notify: [lead]}\n"
        "    - {after: 4s, notify: [manager]}\n"
    )
    (directory / "checkout.yaml").write_text(
        "probes:\n"
        f"  checkout-health: {{http: {{url: '{pages.url('/health')}', expect_status: 200}}}}\n"
        "rules:\n"
        "  - name: checkout-down\n"
        "    matchers: ['service = \"checkout\"', 'alertname = \"CheckoutDown\"']\n"
        "    severity: SEV-1\n"
        "    probes: [checkout-health]\n"
    )
    return directory


def timeline_kinds(daemon: TriagedProcess, incident_id: str) -> list[str]:
    status, detail = daemon.get_json(f"/api/v1/incidents/{incident_id}")
    assert status == 200, detail
    return [e["kind"] for e in detail["timeline"]]


def sample(metrics: str, name: str, **labels: str) -> float:
    """One sample's value from exposition text, parsed by prometheus_client."""
    for family in text_string_to_metric_families(metrics):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def test_alert_to_page_escalation_ack_and_resolve(tmp_path: Path) -> None:
    with PageReceiver() as pages:
        pages.respond("/health", status=200, body=b'{"status": "ok"}')
        rules = write_rules(tmp_path / "rules", pages)
        with TriagedProcess(rules, tmp_path / "data", workers=2) as daemon:
            firing = alertmanager_payload([ALERT], group_key=GROUP)
            status, answer = daemon.post_json("/api/v1/alerts/alertmanager", firing)
            assert status == 202, answer
            incident_id = answer["incidents"][0]["id"]

            [page] = pages.wait_for_count(1, "/primary", timeout=15)
            assert page.json["incident_id"] == incident_id
            assert page.json["severity"] == "SEV-1"
            [probe] = page.json["diagnosis"]
            assert (probe["name"], probe["outcome"]) == ("checkout-health", "ok")

            # nobody acknowledges: the scheduler's step pages the next contact
            [lead] = pages.wait_for_count(1, "/lead", timeout=20)
            assert lead.json["escalation_step"] == 1
            assert lead.at - page.at >= 1.0  # `after: 2s`, +-1 s of RQ's scheduler

            status, acked = daemon.post_json(
                f"/api/v1/incidents/{incident_id}/ack", {"by": "alice"}
            )
            assert status == 200 and acked["status"] == "acknowledged"
            wait_until(
                lambda: "escalation_stopped" in timeline_kinds(daemon, incident_id),
                timeout=20,
                message="the manager step never came due",
            )
            assert pages.requests("/manager") == []

            resolved = alertmanager_payload(
                [{**ALERT, "status": "resolved", "endsAt": "2026-11-26T10:20:00Z"}],
                group_key=GROUP,
            )
            status, answer = daemon.post_json("/api/v1/alerts/alertmanager", resolved)
            assert status == 202 and answer["incidents"][0]["result"] == "resolved"
            status, detail = daemon.get_json(f"/api/v1/incidents/{incident_id}")
            assert detail["status"] == "resolved"

            # counts made inside RQ's forked work horses reach /metrics
            status, metrics = daemon.get_json("/metrics")
            text: Any = metrics
            assert sample(text, "triaged_pages_total", channel="webhook", outcome="sent") == 2
            assert sample(text, "triaged_escalation_steps_total", severity="SEV-1") == 2
            assert sample(text, "triaged_time_to_first_page_seconds_count", severity="SEV-1") == 1
            assert (
                sample(
                    text,
                    "triaged_probe_duration_seconds_count",
                    probe="checkout-health",
                    outcome="ok",
                )
                == 1
            )
            assert sample(text, "triaged_incidents_total", severity="SEV-1") == 1
            assert sample(text, "triaged_alerts_received_total", source="alertmanager") == 2
