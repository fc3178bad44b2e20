"""New Relic workflow webhook adapter against fixtures/payloads/newrelic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.model import Alert, AlertStatus
from receiver.sources import newrelic

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "newrelic"
ISSUE = "c5faa7e6-7b54-402d-af79-f99601e0278c"


def body(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def alerts(data: dict[str, Any]) -> list[Alert]:
    return newrelic.to_alerts(newrelic.Payload.model_validate(data))


def test_activated() -> None:
    [alert] = alerts(body("activated"))
    assert alert.source == "newrelic"
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["alertname"] == "Checkout error rate"
    assert alert.labels["priority"] == "critical"
    assert "severity" not in alert.labels
    assert alert.labels["state"] == "activated"
    assert alert.labels["service"] == "checkout-api"
    assert alert.labels["policy"] == "Checkout golden signals"
    assert alert.labels["trigger"] == "state_change"
    assert alert.labels["workflow"] == "Payments team"
    assert alert.labels["correlated"] == "false"
    assert alert.summary == (
        "checkout-api query result is > 5.0 for 5 minutes on 'Checkout error rate'"
    )
    assert alert.annotations["total_incidents"] == "1"
    assert alert.generator_url == (
        f"https://radar-api.service.newrelic.com/accounts/4420147/issues/{ISSUE}?notifier=WEBHOOK"
    )
    assert alert.group_labels == {
        "alertname": "Checkout error rate",
        "service": "checkout-api",
        "issue_id": ISSUE,
    }
    assert alert.starts_at == "2024-06-03T16:00:00.123000+00:00"
    assert alert.ends_at is None


def test_acknowledged_stays_firing_with_a_state() -> None:
    [activated] = alerts(body("activated"))
    [alert] = alerts(body("acknowledged"))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["state"] == "acknowledged"
    assert alert.labels["trigger"] == "user_action"
    assert alert.labels["correlated"] == "false"  # sent as the string "false"
    assert alert.fingerprint == activated.fingerprint
    assert alert.group_key == activated.group_key


def test_closed_resolves_the_same_alert() -> None:
    [activated] = alerts(body("activated"))
    [closed] = alerts(body("closed"))
    assert closed.status is AlertStatus.RESOLVED
    assert closed.labels["state"] == "closed"
    assert closed.fingerprint == activated.fingerprint
    assert closed.group_key == activated.group_key
    assert closed.ends_at == "2024-06-03T16:15:00+00:00"


def test_the_group_is_the_issue_even_when_its_conditions_grow() -> None:
    [activated] = alerts(body("activated"))
    grown = body("activated")
    grown["alertConditionNames"] = ["Checkout latency", "Checkout error rate"]
    grown["impactedEntities"] = ["checkout-db", "checkout-api"]
    [alert] = alerts(grown)
    assert alert.labels["alertname"] == "Checkout latency"
    assert alert.fingerprint == activated.fingerprint
    assert alert.group_key == activated.group_key


def test_other_issues_are_other_alerts_and_incidents() -> None:
    other = body("activated")
    other["id"] = "13bbcdca-f0b6-470d-b0be-b34583c58869"
    [a], [b] = alerts(other), alerts(body("activated"))
    assert a.fingerprint != b.fingerprint
    assert a.group_key != b.group_key


def test_issue_id_and_page_url_keys_are_accepted() -> None:
    data = body("activated")
    data["issueId"] = data.pop("id")
    data["issuePageUrl"] = data.pop("issueUrl")
    [alert] = alerts(data)
    assert alert.fingerprint == alerts(body("activated"))[0].fingerprint
    assert alert.generator_url is not None


def test_created_and_unknown_states_fire() -> None:
    for state, label in (("CREATED", "created"), ("INVESTIGATING", "investigating")):
        data = body("activated")
        data["state"] = state
        [alert] = alerts(data)
        assert alert.status is AlertStatus.FIRING
        assert alert.labels["state"] == label


def test_missing_state_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        newrelic.Payload.model_validate(body("invalid_missing_state"))
    assert caught.value.errors()[0]["loc"] == ("state",)


def test_missing_id_is_refused_naming_it() -> None:
    data = body("activated")
    del data["id"]
    with pytest.raises(ValidationError) as caught:
        newrelic.Payload.model_validate(data)
    assert caught.value.errors()[0]["loc"] == ("id",)


def test_minimal_body_and_odd_values_do_not_raise() -> None:
    [alert] = alerts(
        {
            "id": "x",
            "state": "CLOSED",
            "createdAt": "not-a-time",
            "updatedAt": 10**15,
            "impactedEntities": [],
            "isCorrelated": "maybe",
        }
    )
    assert alert.status is AlertStatus.RESOLVED
    assert alert.labels["alertname"] == "New Relic issue x"
    assert alert.starts_at is None
    assert "correlated" not in alert.labels
