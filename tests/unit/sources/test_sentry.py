"""Sentry webhook adapter against the payload samples in fixtures/payloads/sentry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.model import Alert, AlertStatus
from receiver.sources import sentry
from receiver.sources.common import stable_id

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "sentry"
TITLE = "ReferenceError: heck is not defined"
ISSUE = "1117540176"


def body(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def alerts(data: dict[str, Any]) -> list[Alert]:
    return sentry.to_alerts(sentry.Payload.model_validate(data))


def test_issue_alert() -> None:
    [alert] = alerts(body("issue_alert"))
    assert alert.source == "sentry"
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == stable_id("sentry", "issue", ISSUE)
    assert alert.labels["alertname"] == TITLE
    assert alert.labels["severity"] == "error"
    assert alert.labels["service"] == "front-end"  # from the event's API URL
    assert alert.labels["environment"] == "production"
    assert alert.labels["issue_id"] == ISSUE
    assert alert.labels["project_id"] == "1"
    assert alert.labels["rule"] == "Very Important Alert Rule!"
    assert alert.labels["state"] == "triggered"
    assert alert.labels["browser_name"] == "Chrome"  # event tags merged last
    assert alert.summary == TITLE
    assert alert.annotations["description"] == "?(<anonymous>)"
    assert alert.generator_url is not None
    assert alert.generator_url.startswith("https://sentry.io/organizations/test-org/issues/")
    assert alert.group_labels == {"issue_id": ISSUE}
    assert alert.starts_at == "2019-08-19T21:06:17.677000Z"


def test_issue_resolved_webhook_resolves_the_issue_alert() -> None:
    [firing] = alerts(body("issue_alert"))
    [resolved] = alerts(body("issue_resolved"))
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.labels["state"] == "resolved"
    assert resolved.labels["service"] == "front-end"
    assert resolved.labels["severity"] == "error"
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.group_key == firing.group_key
    assert resolved.generator_url == "https://sentry.io/organizations/test-org/issues/1117540176/"


def test_legacy_plugin_is_the_same_issue() -> None:
    [firing] = alerts(body("issue_alert"))
    [legacy] = alerts(body("legacy_webhook"))
    assert legacy.status is AlertStatus.FIRING
    assert legacy.fingerprint == firing.fingerprint
    assert legacy.group_key == firing.group_key
    assert legacy.labels["alertname"] == TITLE
    assert legacy.labels["severity"] == "error"
    assert legacy.labels["service"] == "front-end"
    assert legacy.labels["rule"] == "Very Important Alert Rule!"
    assert legacy.summary == TITLE
    assert legacy.generator_url is not None
    assert legacy.generator_url.endswith("?referrer=webhooks_plugin")


def test_issue_created() -> None:
    [alert] = alerts(body("issue_created"))
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == stable_id("sentry", "issue", "1170820242")
    assert alert.labels["alertname"] == "ReferenceError: blooopy is not defined"
    assert alert.labels["severity"] == "error"
    assert alert.labels["service"] == "front-end"
    assert alert.labels["short_id"] == "FRONT-END-9"
    assert alert.labels["substatus"] == "escalating"
    assert alert.labels["state"] == "created"


@pytest.mark.parametrize(
    ("action", "status", "expected"),
    [
        ("archived", "ignored", AlertStatus.RESOLVED),
        ("ignored", "ignored", AlertStatus.RESOLVED),
        ("unresolved", "unresolved", AlertStatus.FIRING),
        ("assigned", "unresolved", AlertStatus.FIRING),
        ("assigned", "resolved", AlertStatus.RESOLVED),
    ],
)
def test_issue_actions(action: str, status: str, expected: AlertStatus) -> None:
    data = body("issue_created")
    data["action"] = action
    data["data"]["issue"]["status"] = status
    [alert] = alerts(data)
    assert alert.status is expected
    assert alert.labels["state"] == action


def test_metric_alert_critical() -> None:
    [alert] = alerts(body("metric_critical"))
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == stable_id("sentry", "metric_alert", "4")
    assert alert.labels["alertname"] == "Too many errors"
    assert alert.labels["severity"] == "critical"
    assert alert.labels["service"] == "bar"
    assert alert.labels["rule_id"] == "7"
    assert alert.labels["metric_alert_id"] == "4"
    assert alert.summary == "Critical: Too many errors"
    assert alert.annotations["description"].startswith("1000 events in the last 10 minutes")
    assert alert.generator_url == "https://sentry.io/organizations/baz/alerts/1/"
    assert alert.group_labels == {"alertname": "Too many errors", "service": "bar"}


def test_metric_alert_resolved_is_the_same_alert() -> None:
    [critical] = alerts(body("metric_critical"))
    [resolved] = alerts(body("metric_resolved"))
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.labels["state"] == "resolved"
    assert "severity" not in resolved.labels
    assert resolved.fingerprint == critical.fingerprint
    assert resolved.group_key == critical.group_key
    assert resolved.ends_at == "2020-09-13T12:41:40.000000Z"


def test_metric_alert_warning() -> None:
    [alert] = alerts(body("metric_critical") | {"action": "warning"})
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["severity"] == "warning"


def test_other_resources_store_nothing() -> None:
    assert alerts(body("installation")) == []


def test_tags_cannot_overwrite_own_labels() -> None:
    data = body("issue_alert")
    data["data"]["event"]["tags"] = [["alertname", "x"], {"key": "service", "value": "y"}]
    [alert] = alerts(data)
    assert alert.labels["alertname"] == TITLE
    assert alert.labels["service"] == "front-end"


def test_numeric_issue_id_is_the_same_identity() -> None:
    [text] = alerts(body("issue_resolved"))
    data = body("issue_resolved")
    data["data"]["issue"]["id"] = int(ISSUE)
    [number] = alerts(data)
    assert number.fingerprint == text.fingerprint
    assert number.group_key == text.group_key


def error_locations(data: Any) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as exc:
        sentry.Payload.model_validate(data)
    return [tuple(e["loc"]) for e in exc.value.errors()]


def test_metric_alert_with_unknown_action_is_refused() -> None:
    assert error_locations(body("metric_critical") | {"action": "firing"}) == [("action",)]


def test_issue_alert_without_issue_id_is_refused() -> None:
    data = body("issue_alert")
    del data["data"]["event"]["issue_id"]
    assert error_locations(data) == [("data", "event", "issue_id")]


def test_data_without_action_is_refused() -> None:
    data = body("issue_alert")
    del data["action"]
    assert error_locations(data) == [("action",)]


def test_unknown_shape_is_refused() -> None:
    assert error_locations({"hello": "world"}) == [("data",)]


def test_wrong_type_names_the_field() -> None:
    data = body("metric_critical")
    data["data"]["metric_alert"]["alert_rule"]["name"] = ["not", "a", "name"]
    assert ("data", "metric_alert", "alert_rule", "name") in error_locations(data)


def test_integers_past_64_bits_are_refused() -> None:
    data = body("issue_alert")
    data["data"]["event"]["project"] = 2**70
    assert ("data", "event", "project", "constrained-int") in error_locations(data)
