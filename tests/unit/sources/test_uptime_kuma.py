"""Uptime Kuma webhook adapter against fixtures/payloads/uptime-kuma."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.model import Alert, AlertStatus
from receiver.sources import uptime_kuma

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "uptime-kuma"


def body(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def alerts(data: dict[str, Any]) -> list[Alert]:
    return uptime_kuma.to_alerts(uptime_kuma.Payload.model_validate(data))


def test_down() -> None:
    [alert] = alerts(body("down"))
    assert alert.source == "uptime-kuma"
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "Checkout API"
    assert alert.labels["service"] == "Checkout API"
    assert alert.labels["severity"] == "high"
    assert alert.labels["state"] == "down"
    assert alert.labels["host"] == "checkout.example.com"
    assert alert.labels["monitor_id"] == "7"
    assert alert.labels["monitor_type"] == "http"
    assert alert.labels["path"] == "Production / Checkout API"
    assert alert.labels["env"] == "prod"
    assert alert.labels["customer_facing"] == "true"
    assert alert.summary == "[Checkout API] [🔴 Down] timeout of 48000ms exceeded"
    assert alert.annotations["description"] == "timeout of 48000ms exceeded"
    assert alert.annotations["url"] == "https://checkout.example.com/healthz"
    assert alert.generator_url is None
    assert alert.group_labels == {"alertname": "Checkout API", "service": "Checkout API"}
    assert alert.starts_at == "2024-05-02T08:15:00.123000+00:00"
    assert alert.ends_at is None


def test_up_resolves_the_same_alert() -> None:
    [down] = alerts(body("down"))
    [up] = alerts(body("up"))
    assert up.status is AlertStatus.RESOLVED
    assert up.labels["state"] == "up"
    assert up.summary == "[Checkout API] [✅ Up] 200 - OK"
    assert up.starts_at == "2024-05-02T08:15:00.123000+00:00"
    assert up.ends_at == "2024-05-02T08:27:00.456000+00:00"
    assert up.fingerprint == down.fingerprint
    assert up.group_key == down.group_key


def test_pending_fires_with_state_label() -> None:
    [down] = alerts(body("down"))
    [pending] = alerts(body("pending"))
    assert pending.status is AlertStatus.FIRING
    assert pending.labels["state"] == "pending"
    assert pending.fingerprint == down.fingerprint


def test_maintenance_fires_with_state_label() -> None:
    data = body("down")
    data["heartbeat"]["status"] = 3
    [alert] = alerts(data)
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["state"] == "maintenance"


def test_test_message_stores_nothing() -> None:
    assert alerts(body("test")) == []


def test_service_tag_names_the_service() -> None:
    data = body("down")
    data["monitor"]["tags"].append({"name": "service", "value": "checkout", "color": "#000"})
    [alert] = alerts(data)
    assert alert.labels["service"] == "checkout"
    assert alert.labels["alertname"] == "Checkout API"


def test_heartbeat_without_monitor_uses_the_heartbeat_monitor_id() -> None:
    data = body("down")
    [full] = alerts(data)
    data["monitor"] = None
    [alert] = alerts(data)
    assert alert.fingerprint == full.fingerprint
    assert alert.labels["alertname"] == "monitor 7"


def test_hostname_monitor() -> None:
    data = body("down")
    data["monitor"].update(type="port", url="https://", hostname="db.internal", port=5432)
    [alert] = alerts(data)
    assert alert.labels["host"] == "db.internal"


def test_unreadable_url_leaves_no_host() -> None:
    data = body("down")
    data["monitor"]["url"] = "http://[::1"
    [alert] = alerts(data)
    assert "host" not in alert.labels


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["heartbeat"].update(status=9), "heartbeat.status"),
        (lambda d: d["heartbeat"].pop("status"), "heartbeat.status"),
        (lambda d: d.pop("msg"), "msg"),
        (lambda d: d["monitor"].update(tags="prod"), "monitor.tags"),
    ],
)
def test_invalid_body_names_the_field(mutate: Any, field: str) -> None:
    data = body("down")
    mutate(data)
    with pytest.raises(ValidationError) as err:
        uptime_kuma.Payload.model_validate(data)
    locs = {".".join(str(p) for p in e["loc"]) for e in err.value.errors()}
    assert field in locs


def test_heartbeat_without_any_monitor_id_is_invalid() -> None:
    data = body("down")
    data["monitor"] = None
    del data["heartbeat"]["monitorID"]
    with pytest.raises(ValidationError, match="monitorID"):
        uptime_kuma.Payload.model_validate(data)
