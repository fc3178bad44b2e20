"""Grafana webhook adapter against the payload samples in fixtures/payloads/grafana."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.model import Alert, AlertStatus
from receiver.sources import grafana

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "grafana"
GROUP_KEY = '{}/{team="blue"}:{alertname="High memory usage", grafana_folder="Infra"}'


def body(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def alerts(data: dict[str, Any]) -> list[Alert]:
    return grafana.to_alerts(grafana.Payload.model_validate(data))


def test_firing() -> None:
    [alert] = alerts(body("firing"))
    assert alert.source == "grafana"
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "High memory usage"
    assert alert.labels["severity"] == "critical"
    assert alert.labels["service"] == "checkout"
    assert alert.labels["state"] == "alerting"
    assert alert.labels["grafana_folder"] == "Infra"
    assert alert.summary == "This alert was triggered for zone us-1"
    assert alert.annotations["description"] == "The system has high memory usage"
    assert alert.annotations["silence_url"].startswith("https://play.grafana.org/alerting/silence")
    assert "dashboard_url" not in alert.annotations
    assert alert.generator_url == "https://play.grafana.org/alerting/grafana/1afz29v7z/view?orgId=1"
    assert alert.group_key == GROUP_KEY
    assert alert.group_labels == {"alertname": "High memory usage", "grafana_folder": "Infra"}
    assert alert.starts_at == "2021-10-12T09:51:03.157076+02:00"
    assert alert.ends_at is None


def test_resolved_is_the_same_alert() -> None:
    [firing] = alerts(body("firing"))
    [resolved] = alerts(body("resolved"))
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.labels["state"] == "normal"
    assert resolved.ends_at == "2021-10-12T10:06:03.157076+02:00"
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.group_key == firing.group_key


def test_mixed_body_counts_each_alert_status() -> None:
    us, eu = alerts(body("mixed"))
    assert us.status is AlertStatus.FIRING
    assert eu.status is AlertStatus.RESOLVED
    assert us.fingerprint != eu.fingerprint
    assert us.group_key == eu.group_key == GROUP_KEY
    assert eu.labels["zone"] == "eu-1"
    assert eu.summary == "This alert was triggered for zone eu-1"
    [firing] = alerts(body("firing"))
    assert us.fingerprint == firing.fingerprint


def test_no_data_fires_with_state_label() -> None:
    [alert] = alerts(body("nodata"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "DatasourceNoData"
    assert alert.labels["state"] == "nodata"
    assert alert.labels["severity"] == "warning"
    assert alert.labels["service"] == "checkout"
    assert alert.labels["rulename"] == "Checkout request rate"
    assert alert.summary == "Checkout request rate: no data"
    assert alert.annotations["panel_url"].endswith("viewPanel=4")
    assert alert.group_key == '{}:{alertname="DatasourceNoData", grafana_folder="Infra"}'


def test_error_fires_with_state_label() -> None:
    [alert] = alerts(body("error"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "DatasourceError"
    assert alert.labels["state"] == "error"
    assert alert.labels["severity"] == "critical"
    assert alert.labels["service"] == "orders-db"
    assert alert.summary.startswith(
        "Postgres replication lag: data source error: [sse.dataQueryError]"
    )


@pytest.mark.parametrize(
    ("reason", "state"),
    [
        ("NoData", "nodata"),
        ("No Data", "nodata"),
        ("NoData, KeepLast", "nodata"),
        ("Error", "error"),
    ],
)
def test_state_reason_of_a_rule_that_alerts_on_no_data(reason: str, state: str) -> None:
    data = body("firing")
    data["alerts"][0]["annotations"]["grafana_state_reason"] = reason
    [alert] = alerts(data)
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["state"] == state
    assert alert.labels["alertname"] == "High memory usage"


def test_alert_labels_cannot_override_the_adapter_labels() -> None:
    data = body("firing")
    data["alerts"][0]["labels"]["state"] = "fine"
    [alert] = alerts(data)
    assert alert.labels["state"] == "alerting"


def test_without_fingerprint_identity_is_the_label_set() -> None:
    firing, resolved = body("firing"), body("resolved")
    for data in (firing, resolved):
        del data["alerts"][0]["fingerprint"]
    [a] = alerts(firing)
    [b] = alerts(resolved)
    assert a.fingerprint == b.fingerprint
    other = copy.deepcopy(firing)
    other["alerts"][0]["labels"]["zone"] = "eu-1"
    [c] = alerts(other)
    assert c.fingerprint != a.fingerprint


def test_without_group_key_groups_by_alertname_and_service() -> None:
    data = body("firing")
    del data["groupKey"]
    [alert] = alerts(data)
    assert alert.group_labels == {"alertname": "High memory usage", "service": "checkout"}


def test_missing_summary_falls_back_to_alertname() -> None:
    data = body("firing")
    del data["alerts"][0]["annotations"]["summary"]
    [alert] = alerts(data)
    assert alert.summary == "High memory usage"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["alerts"][0].update(status="pending"), "alerts.0.status"),
        (lambda d: d.update(alerts=[]), "alerts"),
        (lambda d: d["alerts"][0]["labels"].update(team=7), "alerts.0.labels.team"),
        (lambda d: d.pop("status"), "status"),
    ],
)
def test_invalid_body_names_the_field(mutate: Any, field: str) -> None:
    data = body("firing")
    mutate(data)
    with pytest.raises(ValidationError) as err:
        grafana.Payload.model_validate(data)
    locs = {".".join(str(p) for p in e["loc"]) for e in err.value.errors()}
    assert field in locs
