"""Issue 5's end-to-end case through `triaged run` (subprocess, embedded Redis, real
workers): an alert whose service's /health answers 500 is regraded to SEV-1 and
paged with that finding; the same alert with a healthy service is regraded to SEV-4
and, as its rules say, paged to nobody."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.payloads import alertmanager_payload, group_key_for
from tests.support.wait import wait_until

pytestmark = pytest.mark.e2e


def write_rules(directory: Path, pages: PageReceiver) -> Path:
    directory.mkdir()
    (directory / "rules.yaml").write_text(
        "contacts:\n"
        f"  oncall: {{role: On call, channels: [{{webhook: '{pages.url('/oncall')}'}}]}}\n"
        "escalation:\n  SEV-1: [{notify: [oncall]}]\n  SEV-2: [{notify: [oncall]}]\n"
        "probe_targets: {networks: [127.0.0.0/8]}\n"
        "probes:\n"
        "  health: {http: {url: 'http://{instance}/health', expect_status: 200}}\n"
        "  cache: {redis: {url_env: REDIS_URL}}\n"
        "rules:\n"
        "  - name: checkout\n"
        "    matchers: ['service = \"checkout\"']\n"
        "    severity: SEV-2\n"
        "    probes: [health, cache]\n"
        "    regrade:\n"
        "      - {when: any_failed, probes: [health], severity: SEV-1}\n"
        "      - {when: all_ok, severity: SEV-4}\n"
    )
    return directory


@pytest.mark.parametrize(("health", "severity"), [(500, "SEV-1"), (200, "SEV-4")])
def test_health_decides_the_grade(tmp_path: Path, health: int, severity: str) -> None:
    with PageReceiver() as pages, PageReceiver() as service:
        service.respond("/health", health, b"boom" if health == 500 else b"ok")
        rules = write_rules(tmp_path / "rules", pages)
        with TriagedProcess(rules, tmp_path / "data") as triaged:
            alert = {
                "labels": {
                    "alertname": "CheckoutSlow",
                    "service": "checkout",
                    "instance": f"127.0.0.1:{service.port}",
                },
                "annotations": {"summary": "checkout is slow"},
                "startsAt": "2026-11-26T10:00:00Z",
            }
            payload = alertmanager_payload(
                [alert], group_key=group_key_for({"alertname": "CheckoutSlow"})
            )
            status, answer = triaged.post_json("/api/v1/alerts/alertmanager", payload)
            assert status == 202, answer
            incident_id = answer["incidents"][0]["id"]

            def graded() -> dict[str, object] | None:
                code, detail = triaged.get_json(f"/api/v1/incidents/{incident_id}")
                kinds = [e["kind"] for e in detail["timeline"]]
                return detail if code == 200 and "severity_regraded" in kinds else None

            detail = wait_until(graded, timeout=20, message="the incident regraded")
            assert detail["severity"] == severity
            assert len(service.requests("/health")) == 1
            if severity == "SEV-1":
                [page] = pages.wait_for_count(1, "/oncall", timeout=20)
                assert page.json["severity"] == "SEV-1"
                lines = {d["name"]: d for d in page.json["diagnosis"]}
                assert (
                    lines["health"]["outcome"] == "failed"
                    and "HTTP 500" in lines["health"]["detail"]
                )
                # the worker's environment reaches its probes: REDIS_URL names the embedded Redis
                assert lines["cache"]["outcome"] == "ok" and "PONG" in lines["cache"]["detail"]
            else:
                wait_until(
                    lambda: (
                        "not_paged"
                        in [
                            e["kind"]
                            for e in triaged.get_json(f"/api/v1/incidents/{incident_id}")[1][
                                "timeline"
                            ]
                        ]
                    ),
                    timeout=20,
                    message="recorded as not paged",
                )
                assert pages.requests("/oncall") == []
