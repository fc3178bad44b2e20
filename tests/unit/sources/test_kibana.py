"""Kibana Webhook connector adapter against the samples in fixtures/payloads/kibana."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.model import Alert, AlertStatus
from receiver.sources import kibana
from receiver.sources.common import stable_id

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "kibana"
RULE = "3a1ed8c0-c1a8-11ed-9249-ed6d75986bdc"


def body(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def alerts(data: dict[str, Any]) -> list[Alert]:
    return kibana.to_alerts(kibana.Payload.model_validate(data))


def test_active() -> None:
    [alert] = alerts(body("active"))
    assert alert.source == "kibana"
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == stable_id("kibana", RULE, "host-1")
    assert alert.labels["alertname"] == "Host CPU high"
    assert alert.labels["severity"] == "critical"
    assert "service" not in alert.labels  # rendered empty: absent
    assert alert.labels["rule_id"] == RULE
    assert alert.labels["alert_id"] == "host-1"
    assert alert.labels["space_id"] == "default"
    assert alert.labels["action_group"] == "metrics.threshold.fired"
    assert alert.labels["state"] == "active"
    assert "flapping" not in alert.labels
    assert alert.labels["team"] == "payments"  # tag "team:payments"
    assert alert.labels["env"] == "prod"  # tag "env=prod"
    assert alert.labels["tags"] == "infra"  # bare tags
    assert alert.summary.startswith("system.cpu.user.pct is 92.3%")
    assert alert.generator_url == (
        "https://kibana.example.com/app/observability/alerts/50faddcd-c0a0-4122-a068-c204f4a7ec87"
    )
    assert alert.group_labels == {"alertname": "Host CPU high"}
    assert alert.starts_at == "2023-03-28T13:40:00.000Z"
    assert alert.ends_at is None


def test_recovered_is_the_same_alert() -> None:
    [active] = alerts(body("active"))
    [recovered] = alerts(body("recovered"))
    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.labels["state"] == "recovered"
    assert recovered.fingerprint == active.fingerprint
    assert recovered.group_key == active.group_key
    assert recovered.starts_at is None
    assert recovered.ends_at == "2023-03-28T14:25:00.000Z"


def test_no_data_fires_with_a_state() -> None:
    [alert] = alerts(body("nodata"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["state"] == "no_data"
    assert alert.labels["action_group"] == "metrics.threshold.nodata"
    assert alert.fingerprint == stable_id("kibana", RULE, "host-2")
    assert alert.summary == "system.cpu.user.pct reported no data in the last 5m for host-2"
    assert alert.generator_url == "https://kibana.example.com/app/metrics/explorer"


def test_warning_group() -> None:
    data = body("active") | {"action_group": "metrics.threshold.warning"}
    data["action_group_name"] = "Warning"
    [alert] = alerts(data)
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["state"] == "warning"


def test_index_threshold_with_tag_list_and_flapping() -> None:
    [alert] = alerts(body("index_threshold"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "Checkout 5xx rate"
    assert alert.labels["severity"] == "warning"  # lowercased
    assert alert.labels["service"] == "checkout"  # from the tag "service:checkout"
    assert alert.labels["tags"] == "sev2"
    assert alert.labels["flapping"] == "true"
    assert alert.labels["state"] == "active"
    assert alert.summary == "alert 'Checkout 5xx rate' active for group 'all documents'"
    assert alert.annotations["description"].startswith("alert 'Checkout 5xx rate' is active")
    assert alert.generator_url is None
    assert alert.group_labels == {"alertname": "Checkout 5xx rate", "service": "checkout"}


def test_connector_test_stores_nothing() -> None:
    assert alerts(body("connector_test")) == []


def test_tags_cannot_overwrite_own_labels() -> None:
    [alert] = alerts(body("active") | {"tags": ["alertname:x", "state=y"]})
    assert alert.labels["alertname"] == "Host CPU high"
    assert alert.labels["state"] == "active"


def test_empty_alert_id_is_the_rule_alone() -> None:
    [alert] = alerts(body("active") | {"alert_id": ""})
    assert alert.fingerprint == stable_id("kibana", RULE, "")
    assert "alert_id" not in alert.labels


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"action_group": ""}, "action_group"),  # a "Summary of alerts" action
        ({"rule_id": 42}, "rule_id"),
        ({"rule_name": ""}, "rule_name"),
        ({"flapping": 1}, "flapping"),
        ({"date": "x" * 100}, "date"),
    ],
)
def test_invalid_bodies_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        kibana.Payload.model_validate(body("active") | change)
    assert exc.value.errors()[0]["loc"][0] == field


def test_missing_action_group_is_refused() -> None:
    data = body("active")
    del data["action_group"]
    with pytest.raises(ValidationError) as exc:
        kibana.Payload.model_validate(data)
    assert exc.value.errors()[0]["loc"] == ("action_group",)
