"""triaged behind a real Prometheus Alertmanager, and its /metrics through promtool.

Needs the Debian packages `prometheus-alertmanager` and `prometheus` (promtool);
see conftest.py for skip/fail. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.alertmanager import AlertmanagerProcess, webhook_config
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.payloads import alertmanager_payload, group_key_for
from tests.support.wait import wait_until

pytestmark = pytest.mark.external

LABELS = {"alertname": "CheckoutDown", "service": "checkout"}
ANNOTATIONS = {"summary": "checkout is down"}


def write_rules(rules_dir: Path, page_url: str) -> Path:
    """Default severities; one contact paged by webhook; CheckoutDown is SEV-1."""
    rules_dir.mkdir(parents=True, exist_ok=True)
    (rules_dir / "contacts.yaml").write_text(
        textwrap.dedent(
            f"""\
            contacts:
              primary-oncall:
                role: Primary on-call engineer
                channels:
                  - webhook: {page_url}
            escalation:
              SEV-1:
                - notify: [primary-oncall]
            """
        )
    )
    (rules_dir / "checkout.yaml").write_text(
        textwrap.dedent(
            """\
            rules:
              - name: checkout-down
                matchers: ['alertname = "CheckoutDown"']
                severity: SEV-1
            """
        )
    )
    return rules_dir


def assert_is_page(page: Any, headers: Any) -> str:
    assert isinstance(page, dict), page
    assert isinstance(page.get("incident_id"), str) and page["incident_id"], page
    assert page.get("severity") == "SEV-1", page
    assert page.get("labels", {}).get("alertname") == "CheckoutDown", page
    assert "escalation_step" in page, page
    assert isinstance(page.get("ack_url"), str) and page["ack_url"], page
    assert isinstance(page.get("diagnosis"), list), page
    assert headers.get("Idempotency-Key"), dict(headers)
    return str(page["incident_id"])


def test_alertmanager_to_page_and_resolve(alertmanager_bin: str, tmp_path: Path) -> None:
    with PageReceiver() as pages:
        rules = write_rules(tmp_path / "rules", pages.url("/page"))
        with TriagedProcess(rules, tmp_path / "triaged-data") as triaged:
            config = webhook_config(triaged.url("/api/v1/alerts/alertmanager"))
            with AlertmanagerProcess(alertmanager_bin, config, tmp_path / "am") as am:
                am.post_alerts([{"labels": LABELS, "annotations": ANNOTATIONS}])

                [page] = pages.wait_for_count(1, path="/page", timeout=60)[:1]
                incident_id = assert_is_page(page.json, page.headers)

                ended = datetime.now(UTC) - timedelta(seconds=1)
                am.post_alerts(
                    [{"labels": LABELS, "annotations": ANNOTATIONS, "endsAt": ended.isoformat()}]
                )

                def resolved() -> Any:
                    status, body = triaged.get_json(f"/api/v1/incidents/{incident_id}")
                    assert status == 200, (status, body)
                    return body if body.get("status") == "resolved" else None

                incident = wait_until(
                    resolved,
                    timeout=60,
                    interval=0.25,
                    message=f"incident {incident_id} resolved after Alertmanager's resolve",
                )
                assert incident["id"] == incident_id


def test_metrics_pass_promtool(promtool_bin: str, tmp_path: Path) -> None:
    with PageReceiver() as pages:
        rules = write_rules(tmp_path / "rules", pages.url("/page"))
        with TriagedProcess(rules, tmp_path / "triaged-data") as triaged:
            payload = alertmanager_payload(
                [{"labels": LABELS, "annotations": ANNOTATIONS}], group_key=group_key_for(LABELS)
            )
            status, body = triaged.post_json("/api/v1/alerts/alertmanager", payload)
            assert status == 202, (status, body)
            pages.wait_for_count(1, path="/page", timeout=60)

            status, metrics = triaged.get_json("/metrics")

    assert status == 200, metrics
    assert isinstance(metrics, str), metrics
    assert 'triaged_alerts_received_total{source="alertmanager"}' in metrics, metrics
    check = subprocess.run(
        [promtool_bin, "check", "metrics"],
        input=metrics.encode(),
        capture_output=True,
        timeout=30,
    )
    output = (check.stdout + check.stderr).decode(errors="replace")
    assert check.returncode == 0, (
        f"promtool check metrics failed:\n{output}\n--- metrics ---\n{metrics}"
    )
