"""Alertmanager-shaped bodies, checked against what Alertmanager 0.25 really sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.support.payloads import (
    ZERO_TIME,
    alertmanager_payload,
    am_alert,
    encode_like_alertmanager,
    fingerprint,
    group_key_for,
    rfc3339,
)

# Captured from prometheus-alertmanager 0.25.0 (Debian 12) posting to a webhook.
REAL_BODY = (
    '{"receiver":"triaged","status":"firing","alerts":[{"status":"firing","labels":'
    '{"alertname":"CheckoutDown","service":"checkout"},"annotations":{"summary":'
    '"checkout is down"},"startsAt":"2026-11-26T23:29:28.157798686Z","endsAt":'
    '"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"f2a97db71b24d6ed"}],'
    '"groupLabels":{"alertname":"CheckoutDown","service":"checkout"},"commonLabels":'
    '{"alertname":"CheckoutDown","service":"checkout"},"commonAnnotations":{"summary":'
    '"checkout is down"},"externalURL":"http://vm:49665","version":"4","groupKey":'
    '"{}:{alertname=\\"CheckoutDown\\", service=\\"checkout\\"}","truncatedAlerts":0}\n'
)
LABELS = {"service": "checkout", "alertname": "CheckoutDown"}


def test_fingerprint_matches_alertmanager() -> None:
    assert fingerprint(LABELS) == "f2a97db71b24d6ed"
    assert fingerprint({}) == "cbf29ce484222325"  # FNV-1a 64 offset basis: empty label set


def test_group_key_matches_alertmanager() -> None:
    assert group_key_for(LABELS) == '{}:{alertname="CheckoutDown", service="checkout"}'


def test_payload_is_byte_identical_to_a_real_notification() -> None:
    payload = alertmanager_payload(
        [
            {
                "labels": LABELS,
                "annotations": {"summary": "checkout is down"},
                "startsAt": "2026-11-26T23:29:28.157798686Z",
                "generatorURL": "",
            }
        ],
        group_key=group_key_for(LABELS),
        external_url="http://vm:49665",
    )

    assert encode_like_alertmanager(payload) == REAL_BODY.encode()
    assert payload == json.loads(REAL_BODY)


def test_status_resolved_only_when_every_alert_is_resolved() -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    firing = {"labels": {"alertname": "A", "i": "1"}}
    resolved = {"labels": {"alertname": "A", "i": "2"}, "endsAt": past}

    mixed = alertmanager_payload([firing, resolved], group_key=group_key_for({"alertname": "A"}))
    done = alertmanager_payload([resolved], group_key=group_key_for({"alertname": "A"}))

    assert mixed["status"] == "firing"
    assert [a["status"] for a in mixed["alerts"]] == ["firing", "resolved"]
    assert mixed["alerts"][0]["endsAt"] == ZERO_TIME
    assert mixed["alerts"][1]["endsAt"] == rfc3339(past)
    assert mixed["commonLabels"] == {"alertname": "A"}
    assert mixed["groupLabels"] == {"alertname": "A"}
    assert done["status"] == "resolved"


def test_explicit_resolved_alert_ends_now() -> None:
    alert = am_alert({"alertname": "A"}, status="resolved")

    assert alert["status"] == "resolved"
    assert alert["endsAt"] != ZERO_TIME


def test_rfc3339_like_go() -> None:
    moment = datetime(2024, 5, 1, 10, 0, 0, 120000, tzinfo=UTC)
    assert rfc3339(moment) == "2024-05-01T10:00:00.12Z"
    assert rfc3339(moment.replace(microsecond=0)) == "2024-05-01T10:00:00Z"


def test_go_html_escaping() -> None:
    assert encode_like_alertmanager({"a": "<&>"}) == b'{"a":"\\u003c\\u0026\\u003e"}\n'
