"""Zabbix webhook adapter against the payload samples in fixtures/payloads/zabbix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.model import Alert, AlertStatus
from receiver.sources import zabbix
from receiver.sources.common import stable_id

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "zabbix"
NAME = "High CPU utilization (over 90% for 5m)"


def body(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def alerts(data: dict[str, Any]) -> list[Alert]:
    return zabbix.to_alerts(zabbix.Payload.model_validate(data))


def test_problem() -> None:
    [alert] = alerts(body("problem"))
    assert alert.source == "zabbix"
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == stable_id("zabbix", "48211")
    assert alert.labels["alertname"] == NAME
    assert alert.labels["severity"] == "warning"
    assert alert.labels["service"] == "checkout"  # the event's service tag
    assert alert.labels["host"] == "web-01 (checkout)"
    assert alert.labels["trigger_id"] == "23051"
    assert alert.labels["state"] == "problem"
    assert alert.labels["component"] == "cpu"  # tags merged last
    assert alert.summary == f"{NAME} on web-01 (checkout)"
    assert alert.annotations["description"].startswith("CPU utilization is too high")
    assert alert.annotations["opdata"] == "Current utilization: 97.3 %"
    assert alert.generator_url == (
        "https://zabbix.example.com/tr_events.php?triggerid=23051&eventid=48211"
    )
    assert alert.group_labels == {"alertname": NAME, "service": "checkout"}
    assert alert.starts_at == "2025-04-14T12:57:53+00:00"
    assert alert.ends_at is None


def test_recovery_is_the_same_alert() -> None:
    [problem] = alerts(body("problem"))
    [recovery] = alerts(body("recovery"))
    assert recovery.status is AlertStatus.RESOLVED
    assert recovery.labels["state"] == "resolved"
    assert recovery.fingerprint == problem.fingerprint
    assert recovery.group_key == problem.group_key
    assert recovery.annotations["recovery_event_id"] == "48377"
    assert recovery.ends_at == "2025-04-14T13:37:53+00:00"


def test_acknowledge_update_stays_firing() -> None:
    [problem] = alerts(body("problem"))
    [update] = alerts(body("update"))
    assert update.status is AlertStatus.FIRING
    assert update.labels["state"] == "acknowledged"
    assert update.labels["acknowledged"] == "yes"
    assert update.annotations["update_action"] == "acknowledged and commented"
    assert update.annotations["update_message"].startswith("Looking into it")
    assert update.fingerprint == problem.fingerprint
    assert update.group_key == problem.group_key


@pytest.mark.parametrize(
    ("action", "ack", "status", "state"),
    [
        ("commented", "No", AlertStatus.FIRING, "updated"),
        ("changed severity from Warning to High", "Yes", AlertStatus.FIRING, "acknowledged"),
        ("unacknowledged", "No", AlertStatus.FIRING, "updated"),
        ("closed", "No", AlertStatus.RESOLVED, "closed"),
    ],
)
def test_update_actions(action: str, ack: str, status: AlertStatus, state: str) -> None:
    data = body("update") | {"event_update_action": action, "event_ack_status": ack}
    [alert] = alerts(data)
    assert (alert.status, alert.labels["state"]) == (status, state)


def test_numbers_tags_as_text_and_unresolved_macros() -> None:
    [alert] = alerts(body("problem_unparsed_tags"))
    assert alert.fingerprint == stable_id("zabbix", "50102")
    assert alert.labels["severity"] == "average"  # from the numeric severity
    assert alert.labels["service"] == "db-02"  # no service tag: the host
    assert alert.labels["trigger_id"] == "23107"
    assert alert.labels["scope"] == "availability"
    assert "recovery_event_id" not in alert.annotations  # "{EVENT.RECOVERY.ID}" ignored
    assert alert.starts_at == "2025-04-14T14:02:11"  # Zabbix date and time, no offset
    assert alert.group_labels == {"alertname": alert.labels["alertname"], "service": "db-02"}


def test_numeric_and_string_event_ids_are_one_identity() -> None:
    [text] = alerts(body("problem"))
    [number] = alerts(body("problem") | {"event_id": 48211, "event_value": 1})
    assert number.fingerprint == text.fingerprint


def test_severity_name_when_no_number() -> None:
    data = body("problem")
    del data["event_nseverity"]
    data["event_severity"] = "Disaster"
    [alert] = alerts(data)
    assert alert.labels["severity"] == "disaster"


def test_tags_cannot_overwrite_own_labels() -> None:
    data = body("problem")
    data["event_tags"] = [{"tag": "alertname", "value": "x"}, {"tag": "severity", "value": "y"}]
    [alert] = alerts(data)
    assert alert.labels["alertname"] == NAME
    assert alert.labels["severity"] == "warning"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_value": "2"}, "event_value"),
        ({"event_value": True}, "event_value"),
        ({"event_id": "48211a"}, "event_id"),
        ({"event_name": ""}, "event_name"),
        ({"event_nseverity": "7"}, "event_nseverity"),
        ({"event_tags": "not json"}, "event_tags"),
        ({"event_tags": [{"value": "no tag name"}]}, "event_tags"),
    ],
)
def test_invalid_bodies_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        zabbix.Payload.model_validate(body("problem") | change)
    assert exc.value.errors()[0]["loc"][0] == field


def test_missing_event_id_is_refused() -> None:
    data = body("problem")
    del data["event_id"]
    with pytest.raises(ValidationError) as exc:
        zabbix.Payload.model_validate(data)
    assert exc.value.errors()[0]["loc"] == ("event_id",)


def test_integers_past_64_bits_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        zabbix.Payload.model_validate(body("problem") | {"trigger_id": 2**70})
    assert exc.value.errors()[0]["loc"][0] == "trigger_id"
