"""Azure Monitor (common alert schema) adapter against fixtures/payloads/azure-monitor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.model import Alert, AlertStatus
from receiver.sources import azure_monitor

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "azure-monitor"


def body(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def alerts(data: dict[str, Any]) -> list[Alert]:
    return azure_monitor.to_alerts(azure_monitor.Payload.model_validate(data))


def test_metric_alert_fired() -> None:
    [alert] = alerts(body("metric_fired"))
    assert alert.source == "azure-monitor"
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "WCUS-R2-Gen2"
    assert alert.labels["severity"] == "sev3"
    assert alert.labels["signal_type"] == "Metric"
    assert alert.labels["monitoring_service"] == "Platform"
    assert alert.labels["service"] == "wcus-r2-gen2"
    assert alert.labels["resource"] == "wcus-r2-gen2"
    assert alert.labels["resource_group"] == "pipelinealertrg"
    assert alert.labels["resource_type"] == "microsoft.compute/virtualmachines"
    assert alert.labels["subscription"] == "11111111-1111-1111-1111-111111111111"
    assert alert.labels["metric"] == "Percentage CPU"
    assert alert.labels["resourceid"] == "3efad9dc-3d50-4eac-9c87-8b3fd6f97e4e"  # dimension
    assert alert.labels["team"] == "pipeline"  # a custom property
    assert alert.summary == "WCUS-R2-Gen2: Percentage CPU GreaterThan 25 on wcus-r2-gen2"
    assert alert.annotations["description"] == "CPU of the pipeline VM above 25%"
    assert alert.annotations["metric_value"] == "31.1105"
    assert alert.group_labels == {"alertname": "WCUS-R2-Gen2", "service": "wcus-r2-gen2"}
    assert alert.starts_at == "2019-03-22T13:58:24.3713213Z"
    assert alert.ends_at is None


def test_custom_properties_never_override_the_adapters_labels() -> None:
    [alert] = alerts(body("metric_fired"))
    assert alert.labels["alertname"] == "WCUS-R2-Gen2"


def test_metric_alert_resolved_is_the_same_alert() -> None:
    [fired] = alerts(body("metric_fired"))
    [resolved] = alerts(body("metric_resolved"))
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.fingerprint == fired.fingerprint
    assert resolved.group_key == fired.group_key
    assert resolved.ends_at == "2019-03-22T14:03:16.2246313Z"


def test_log_search_alert() -> None:
    [alert] = alerts(body("log_search_fired"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "AcmeRule"
    assert alert.labels["severity"] == "sev4"
    assert alert.labels["signal_type"] == "Log"
    assert alert.labels["monitoring_service"] == "Log Alerts V2"
    assert alert.labels["service"] == "testvm"
    assert alert.labels["computer"] == "testvm"  # the split-by dimension
    assert alert.labels["owner"] == "ai-engineering"  # alertContext.properties
    assert alert.summary == "AcmeRule on testvm"
    assert alert.annotations["search_query"] == "Heartbeat"
    assert alert.generator_url is not None
    assert alert.generator_url.startswith("https://portal.azure.com#@12345a")
    assert alert.group_labels == {"alertname": "AcmeRule", "service": "testvm"}


def test_activity_log_alert_fires_and_never_resolves_itself() -> None:
    [alert] = alerts(body("activity_log_administrative"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "VM restarted"
    assert alert.labels["severity"] == "sev4"
    assert alert.labels["signal_type"] == "Activity Log"
    assert alert.labels["service"] == "wcus-r2-actlog"
    assert alert.labels["operation"] == "Microsoft.Compute/virtualMachines/restart/action"
    assert alert.labels["level"] == "Informational"
    assert alert.summary == (
        "VM restarted: Microsoft.Compute/virtualMachines/restart/action Succeeded"
    )
    assert "description" not in alert.annotations  # the rule's description is empty
    assert alert.group_labels == {"alertname": "VM restarted", "service": "wcus-r2-actlog"}


def test_service_health_alert() -> None:
    [alert] = alerts(body("service_health_active"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "Service issues in East US"
    assert alert.labels["severity"] == "sev2"
    assert alert.labels["monitoring_service"] == "ServiceHealth"
    assert alert.labels["service"] == "Virtual Machines"
    assert alert.labels["tracking_id"] == "0NIH-U2O"
    assert alert.labels["incident_type"] == "Incident"
    assert alert.labels["stage"] == "Active"
    assert alert.labels["region"] == "East US"
    assert alert.labels["level"] == "3"  # Service Health sends it as a number
    assert alert.summary == "Virtual Machines - East US"
    assert alert.annotations["description"].startswith("Starting at 02:48 UTC")
    assert alert.generator_url == "https://app.azure.com/h/0NIH-U2O/111111"
    assert alert.group_labels == {
        "alertname": "Service issues in East US",
        "tracking_id": "0NIH-U2O",
    }
    assert alert.starts_at == "2019-06-24T02:48:00.0000000Z"


def test_service_health_resolved_notice_resolves_the_incident() -> None:
    """Each Service Health notice is a new Azure alert (a new alertId): the tracking id
    is what stays."""
    first, last = body("service_health_active"), body("service_health_resolved")
    assert first["data"]["essentials"]["alertId"] != last["data"]["essentials"]["alertId"]
    [active] = alerts(first)
    [resolved] = alerts(last)
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.labels["stage"] == "Resolved"
    assert resolved.fingerprint == active.fingerprint
    assert resolved.group_key == active.group_key
    assert resolved.starts_at == active.starts_at
    assert resolved.ends_at == "2019-06-24T15:50:00.0000000Z"


def test_fingerprints_differ_between_alerts() -> None:
    prints = {
        alerts(body(case))[0].fingerprint
        for case in ("metric_fired", "log_search_fired", "activity_log_administrative")
    }
    assert len(prints) == 3


def test_a_legacy_body_is_refused_naming_schema_id() -> None:
    with pytest.raises(ValidationError) as caught:
        azure_monitor.Payload.model_validate(body("not_common_schema"))
    assert caught.value.errors()[0]["loc"] == ("schemaId",)


def test_a_body_without_schema_id_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        azure_monitor.Payload.model_validate({"status": "Activated", "context": {}})
    assert caught.value.errors()[0]["loc"] == ("schemaId",)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("monitorCondition",), "Active"),
        (("alertRule",), ""),
        (("alertTargetIDs",), "/subscriptions/x"),
        (("severity",), 3),
    ],
)
def test_invalid_essentials_name_the_field(path: tuple[str, ...], value: Any) -> None:
    data = body("metric_fired")
    data["data"]["essentials"][path[0]] = value
    with pytest.raises(ValidationError) as caught:
        azure_monitor.Payload.model_validate(data)
    assert caught.value.errors()[0]["loc"][:3] == ("data", "essentials", path[0])


def test_minimal_body_and_odd_targets_do_not_raise() -> None:
    essentials = {
        "alertId": "a-1",
        "alertRule": "rule",
        "severity": "Sev1",
        "monitorCondition": "Fired",
        "alertTargetIDs": ["/", "not-a-resource-id", "/subscriptions"],
        "configurationItems": ["/subscriptions/s/resourceGroups/g"],
    }
    data = {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": essentials}}
    [alert] = alerts(data)
    assert alert.labels["alertname"] == "rule"
    assert alert.labels["severity"] == "sev1"
    assert alert.summary == "rule"
    assert alert.fingerprint == alerts(data)[0].fingerprint
