"""Google Cloud Monitoring webhook adapter against fixtures/payloads/gcp-monitoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.model import Alert, AlertStatus
from receiver.sources import gcp_monitoring

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "gcp-monitoring"


def body(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def alerts(data: dict[str, Any]) -> list[Alert]:
    return gcp_monitoring.to_alerts(gcp_monitoring.Payload.model_validate(data))


def test_open() -> None:
    [alert] = alerts(body("open"))
    assert alert.source == "gcp-monitoring"
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "Monitor-Project-Cluster"
    assert alert.labels["severity"] == "critical"
    assert alert.labels["service"] == "gke-cluster-1"
    assert alert.labels["state"] == "open"
    assert alert.labels["project"] == "internal-project"
    assert alert.labels["resource"] == "gke-cluster-1-default-pool-e2df4cbd-dgp3"
    assert alert.labels["resource_type"] == "gce_instance"
    assert alert.labels["metric"] == "compute.googleapis.com/instance/cpu/utilization"
    assert alert.labels["condition"] == "VM Instance - CPU utilization [MAX]"
    # free-form labels come last and never override the adapter's
    assert alert.labels["team"] == "platform"
    assert alert.labels["zone"] == "us-central1-c"
    assert alert.labels["env"] == "prod"
    assert alert.summary.startswith("CPU utilization for internal-project")
    assert alert.annotations["description"].startswith("CPU on the GKE node pool")
    assert alert.annotations["subject"] == "[ALERT - Critical] Monitor-Project-Cluster"
    assert alert.annotations["incident_id"] == "0.opqiw61fsv7p"
    assert alert.annotations["observed_value"] == "0.935"
    assert alert.generator_url is not None
    assert alert.generator_url.startswith("https://console.cloud.google.com/monitoring/alerting/")
    assert alert.group_labels == {
        "alertname": "Monitor-Project-Cluster",
        "service": "gke-cluster-1",
    }
    assert alert.starts_at == "2020-01-01T01:01:01+00:00"
    assert alert.ends_at is None


def test_closed_is_the_same_alert() -> None:
    [opened] = alerts(body("open"))
    [closed] = alerts(body("closed"))
    assert closed.status is AlertStatus.RESOLVED
    assert closed.labels["state"] == "closed"
    assert closed.ends_at == "2020-01-01T11:11:11+00:00"
    assert closed.summary.endswith("returned to normal with a value of 0.835.")
    assert closed.fingerprint == opened.fingerprint
    assert closed.group_key == opened.group_key


def test_test_notification_stores_nothing() -> None:
    assert alerts(body("test")) == []


def test_no_severity_falls_back_to_policy_user_label() -> None:
    [alert] = alerts(body("open_uptime_check"))
    assert alert.labels["severity"] == "p2"
    assert alert.labels["alertname"] == "api - noc - users"
    assert alert.labels["service"] == "Uptime Check URL labels {host=api.example.com}"
    assert alert.labels["host"] == "api.example.com"
    assert alert.annotations["description"] == "Users API is unreachable from the uptime checkers."
    assert alert.summary.startswith("An uptime check on")


def test_other_states_fire_and_keep_their_name() -> None:
    data = body("open")
    data["incident"]["state"] = "ACKNOWLEDGED"
    [alert] = alerts(data)
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["state"] == "acknowledged"


def test_closed_state_is_case_insensitive() -> None:
    data = body("closed")
    data["incident"]["state"] = "CLOSED"
    [alert] = alerts(data)
    assert alert.status is AlertStatus.RESOLVED


def test_service_falls_back_to_the_resource() -> None:
    data = body("open")
    del data["incident"]["policy_user_labels"]["service"]
    [alert] = alerts(data)
    assert alert.labels["service"] == "gke-cluster-1-default-pool-e2df4cbd-dgp3"


def test_system_labels_of_any_json_shape() -> None:
    data = body("open")
    data["incident"]["metadata"]["system_labels"] = {
        "network_tags": ["web", "prod"],
        "spot_instance": False,
        "huge": 10**30,
    }
    [alert] = alerts(data)
    assert alert.labels["network_tags"] == '["web","prod"]'
    assert alert.labels["spot_instance"] == "false"
    assert alert.labels["huge"] == str(10**30)  # as text (common.label_value)


def test_incidents_of_two_projects_do_not_collide() -> None:
    data = body("open")
    [a] = alerts(data)
    data["incident"]["scoping_project_id"] = "other-project"
    [b] = alerts(data)
    assert a.fingerprint != b.fingerprint


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["incident"].pop("incident_id"), "incident.incident_id"),
        (lambda d: d["incident"].pop("state"), "incident.state"),
        (lambda d: d["incident"].update(started_at="yesterday"), "incident.started_at"),
        (lambda d: d["incident"].update(started_at=-5), "incident.started_at"),
        (lambda d: d.pop("incident"), "incident"),
    ],
)
def test_invalid_body_names_the_field(mutate: Any, field: str) -> None:
    data = body("open")
    mutate(data)
    with pytest.raises(ValidationError) as err:
        gcp_monitoring.Payload.model_validate(data)
    locs = {".".join(str(p) for p in e["loc"]) for e in err.value.errors()}
    assert field in locs
