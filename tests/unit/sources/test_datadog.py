"""Datadog webhook adapter against fixtures/payloads/datadog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.model import Alert, AlertStatus
from receiver.sources import datadog

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "datadog"


def body(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def alerts(data: dict[str, Any]) -> list[Alert]:
    return datadog.to_alerts(datadog.Payload.model_validate(data))


def test_triggered() -> None:
    [alert] = alerts(body("triggered"))
    assert alert.source == "datadog"
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "CPU load high"
    assert alert.labels["severity"] == "error"
    assert alert.labels["priority"] == "p2"
    assert alert.labels["state"] == "triggered"
    assert alert.labels["service"] == "checkout"
    assert alert.labels["host"] == "web-1"
    assert alert.labels["monitor_id"] == "148275309"
    assert alert.labels["metric"] == "system.load.1"
    assert alert.labels["org"] == "Example Corp"
    assert alert.labels["env"] == "prod"  # a tag
    assert alert.labels["monitor"] == "true"  # a tag without a value
    assert alert.summary == "[Triggered on {host:web-1,service:checkout}] CPU load high"
    assert alert.annotations["description"].startswith("CPU load on web-1")
    assert alert.annotations["alert_status"].startswith("system.load.1 over host:web-1")
    assert alert.generator_url == (
        "https://app.datadoghq.com/event/jump_to?event_id=7714254016381935120"
    )
    assert alert.group_labels == {"alertname": "CPU load high", "service": "checkout"}
    assert alert.starts_at == "2024-06-03T16:00:00+00:00"
    assert alert.ends_at is None


def test_tags_never_override_the_adapters_labels() -> None:
    [alert] = alerts(body("triggered"))
    assert "alertname:not-the-monitor" in alert.annotations["tags"]
    assert alert.labels["alertname"] == "CPU load high"


def test_recovered_resolves_the_same_alert() -> None:
    [triggered] = alerts(body("triggered"))
    [recovered] = alerts(body("recovered"))
    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.labels["state"] == "recovered"
    assert "severity" not in recovered.labels  # $ALERT_TYPE "success" is no severity
    assert recovered.fingerprint == triggered.fingerprint
    assert recovered.group_key == triggered.group_key
    assert recovered.starts_at is None
    assert recovered.ends_at == "2024-06-03T16:15:00+00:00"


def test_no_data_fires_with_a_state() -> None:
    [triggered] = alerts(body("triggered"))
    [alert] = alerts(body("no_data"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["state"] == "no_data"
    assert alert.labels["alertname"] == "CPU load high"
    assert alert.fingerprint == triggered.fingerprint
    assert alert.group_key == triggered.group_key


def test_warn_is_severity_warning() -> None:
    [triggered] = alerts(body("triggered"))
    [alert] = alerts(body("warn"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["state"] == "warn"
    assert alert.labels["severity"] == "warning"
    assert alert.labels["priority"] == "p2"
    assert alert.fingerprint == triggered.fingerprint


def test_default_payload_reads_the_title() -> None:
    [alert] = alerts(body("default_triggered"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "Disk almost full"
    assert alert.labels["priority"] == "p1"
    assert alert.labels["state"] == "triggered"
    assert alert.labels["severity"] == "error"
    assert alert.labels["host"] == "db-2"
    assert "service" not in alert.labels
    assert alert.summary == "[P1] [Triggered on {host:db-2}] Disk almost full"
    description = alert.annotations["description"]
    assert description == "Disk usage on db-2 is above 90%.\n\n@webhook-triaged"
    assert alert.group_labels == {"alertname": "Disk almost full"}
    assert alert.starts_at == "2024-06-03T18:40:00+00:00"


def test_default_payload_recovery_is_the_same_alert() -> None:
    [triggered] = alerts(body("default_triggered"))
    [recovered] = alerts(body("default_recovered"))
    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.fingerprint == triggered.fingerprint
    assert recovered.group_key == triggered.group_key


def test_other_groups_of_a_monitor_are_other_alerts() -> None:
    other = body("triggered")
    other["aggreg_key"] = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    other["alert_scope"] = "host:web-2,service:checkout"
    other["hostname"] = "web-2"
    assert alerts(other)[0].fingerprint != alerts(body("triggered"))[0].fingerprint


def test_the_scope_order_does_not_matter() -> None:
    data = body("triggered")
    data["alert_scope"] = "service:checkout, host:web-1"
    assert alerts(data)[0].fingerprint == alerts(body("triggered"))[0].fingerprint


def test_without_a_scope_the_aggregation_key_is_the_group() -> None:
    data, other = body("triggered"), body("triggered")
    for d in (data, other):
        d.update(alert_scope="*", title="CPU load high", alert_title="CPU load high")
    other["aggreg_key"] = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert alerts(data)[0].fingerprint != alerts(other)[0].fingerprint


def test_an_event_that_is_no_monitor_notification_holds_nothing() -> None:
    assert alerts(body("not_a_monitor_event")) == []


def test_unreplaced_variables_count_as_absent() -> None:
    data = body("triggered")
    data.update(hostname="$HOSTNAME", alert_priority="", link="$LINK", tags="$TAGS")
    [alert] = alerts(data)
    assert alert.labels["host"] == "web-1"  # from the scope
    assert "priority" not in alert.labels
    assert alert.generator_url is None
    assert "tags" not in alert.annotations


def test_numbers_where_strings_belong() -> None:
    data = body("triggered")
    data.update(alert_id=148275309, id=7714254016381935120, date=1717430400)
    [alert] = alerts(data)
    assert alert.labels["monitor_id"] == "148275309"
    assert alert.starts_at == "2024-06-03T16:00:00+00:00"  # epoch seconds work too
    assert alert.fingerprint == alerts(body("triggered"))[0].fingerprint


def test_undocumented_transition_fires_with_it_as_state() -> None:
    data = body("triggered")
    data["alert_transition"] = "Muted"
    [alert] = alerts(data)
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["state"] == "muted"


def test_missing_title_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        datadog.Payload.model_validate(body("invalid_missing_title"))
    assert caught.value.errors()[0]["loc"] == ("title",)


def test_wrong_types_are_refused_naming_the_field() -> None:
    data = body("triggered")
    data["alert_transition"] = ["Triggered"]
    with pytest.raises(ValidationError) as caught:
        datadog.Payload.model_validate(data)
    assert caught.value.errors()[0]["loc"][0] == "alert_transition"


def test_odd_values_do_not_raise() -> None:
    [alert] = alerts({"title": "[Triggered on {}] ", "date": "99999999999999999", "tags": ":,*,"})
    assert alert.labels["alertname"] == "[Triggered on {}]"
    assert alert.starts_at is None
