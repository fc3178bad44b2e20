"""The PagerDuty channel against a real HTTP server on 127.0.0.1 standing in for
https://events.pagerduty.com/v2/enqueue (answers from tests/fixtures/channels/pagerduty/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from rules.channels import PagerDutyChannel
from tests.support.page_receiver import PageReceiver
from workers.channels import pagerduty
from workers.channels.base import PermanentSendError, RetryableSendError, SendError
from workers.page import Page

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "channels" / "pagerduty"
PATH = "/v2/enqueue"
SECRET = "R0UT1NGKEYsecret0123456789abcdef"
Action = Literal["acknowledge", "resolve"]
ENV = {"PD_ROUTING_KEY": SECRET}


@pytest.fixture
def receiver() -> Iterator[PageReceiver]:
    with PageReceiver() as pages:
        pages.respond(PATH, 202, (FIXTURES / "accepted.json").read_bytes())
        yield pages


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as c:
        yield c


def channel(receiver: PageReceiver, timeout: str = "2s") -> PagerDutyChannel:
    return PagerDutyChannel.model_validate(
        {
            "pagerduty": {
                "routing_key_env": "PD_ROUTING_KEY",
                "url": receiver.url(PATH),
                "timeout": timeout,
            }
        }
    )


def make_page(**changes: Any) -> Page:
    fields: dict[str, Any] = {
        "incident_id": "0a1b2c3d4e5f6a7b",
        "severity": "SEV-1",
        "summary": "checkout 5xx rate above 5%",
        "labels": {
            "alertname": "HighErrorRate",
            "service": "checkout",
            "instance": "web-3.prod:8080",
            "cluster": "prod-eu",
        },
        "diagnosis": [
            {"name": "health", "outcome": "failed", "detail": "HTTP 503", "duration_s": 0.12}
        ],
        "escalation_step": 0,
        "ack_url": "https://triaged.example/ack/0a1b2c3d4e5f6a7b/alice?exp=1&sig=ab",
        "contact": "alice",
        "role": "Primary on-call",
        "status": "open",
        "rule": "checkout-errors",
        "why": "matched rule checkout-errors",
        "created_at": "2025-05-01T12:00:00+00:00",
        "reason": "escalation step 1",
    }
    fields.update(changes)
    return Page(**fields)


def send(receiver: PageReceiver, client: httpx.Client, page: Page | None = None, **kw: Any) -> str:
    return pagerduty.send(channel(receiver, **kw), page or make_page(), "idem-1", client, ENV)


def assert_clean(exc: SendError) -> None:
    assert SECRET not in str(exc)
    assert SECRET not in repr(exc.args)


def test_trigger_has_the_documented_shape(receiver: PageReceiver, client: httpx.Client) -> None:
    detail = send(receiver, client)

    [request] = receiver.requests(PATH)
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "routing_key": SECRET,
        "event_action": "trigger",
        "dedup_key": "0a1b2c3d4e5f6a7b",
        "payload": {
            "summary": "[SEV-1] checkout 5xx rate above 5%",
            "source": "web-3.prod:8080",
            "severity": "critical",
            "timestamp": "2025-05-01T12:00:00+00:00",
            "component": "checkout",
            "group": "prod-eu",
            "class": "HighErrorRate",
            "custom_details": {
                "incident": "0a1b2c3d4e5f6a7b",
                "rule": "checkout-errors",
                "why": "matched rule checkout-errors",
                "reason": "escalation step 1",
                "escalation_step": 0,
                "contact": "alice (Primary on-call)",
                "labels": {
                    "alertname": "HighErrorRate",
                    "service": "checkout",
                    "instance": "web-3.prod:8080",
                    "cluster": "prod-eu",
                },
                "diagnosis": ["health: failed - HTTP 503 (120 ms)"],
            },
        },
        "links": [
            {
                "href": "https://triaged.example/ack/0a1b2c3d4e5f6a7b/alice?exp=1&sig=ab",
                "text": "Acknowledge in triaged",
            }
        ],
        "client": "triaged",
        "client_url": "https://triaged.example",
    }
    assert detail == "PagerDuty dedup_key 0a1b2c3d4e5f6a7b"
    assert SECRET not in detail


def test_every_step_of_one_incident_uses_one_dedup_key(
    receiver: PageReceiver, client: httpx.Client
) -> None:
    send(receiver, client, make_page(escalation_step=0, contact="alice"))
    send(receiver, client, make_page(escalation_step=1, contact="bob"))
    keys = {r.json["dedup_key"] for r in receiver.requests(PATH)}
    assert keys == {"0a1b2c3d4e5f6a7b"}


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("SEV-1", "critical"), ("SEV-2", "error"), ("SEV-3", "warning"), ("SEV-4", "info")],
)
def test_severity_maps_to_pd_cef(
    receiver: PageReceiver, client: httpx.Client, severity: str, expected: str
) -> None:
    send(receiver, client, make_page(severity=severity))
    assert receiver.requests(PATH)[0].json["payload"]["severity"] == expected


def test_optional_fields_are_left_out_without_labels_for_them(
    receiver: PageReceiver, client: httpx.Client
) -> None:
    send(receiver, client, make_page(labels={"team": "payments"}))
    payload = receiver.requests(PATH)[0].json["payload"]
    assert payload["source"] == "triaged"
    assert not {"component", "group", "class"} & payload.keys()


def test_summary_is_clipped_to_1024_characters(
    receiver: PageReceiver, client: httpx.Client
) -> None:
    send(receiver, client, make_page(summary="x" * 5000))
    summary = receiver.requests(PATH)[0].json["payload"]["summary"]
    assert len(summary) == 1024
    assert summary.startswith("[SEV-1] xxx") and summary.endswith("…")


def test_markup_in_alert_text_arrives_literally(
    receiver: PageReceiver, client: httpx.Client
) -> None:
    text = "<b>boom</b> & <@U123> *bold* {{ .Labels }} <https://evil|click>"
    send(receiver, client, make_page(summary=text, labels={"note": text}))
    payload = receiver.requests(PATH)[0].json["payload"]
    assert payload["summary"] == f"[SEV-1] {text}"
    assert payload["custom_details"]["labels"] == {"note": text}


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_rate_limits_are_retryable(
    receiver: PageReceiver, client: httpx.Client, status: int
) -> None:
    receiver.respond(PATH, status, {"status": "error", "message": f"echo {SECRET}"})
    with pytest.raises(RetryableSendError, match=f"HTTP {status}") as info:
        send(receiver, client)
    assert_clean(info.value)


def test_invalid_event_is_permanent_with_pagerdutys_reason(
    receiver: PageReceiver, client: httpx.Client
) -> None:
    receiver.respond(PATH, 400, (FIXTURES / "invalid_event.json").read_bytes())
    with pytest.raises(PermanentSendError) as info:
        send(receiver, client)
    message = str(info.value)
    assert "HTTP 400" in message and "invalid event" in message
    assert "Length of 'routing_key' is incorrect" in message
    assert_clean(info.value)


def test_an_echoed_routing_key_is_redacted(receiver: PageReceiver, client: httpx.Client) -> None:
    receiver.respond(PATH, 400, {"status": "invalid event", "errors": [f"bad key {SECRET}"]})
    with pytest.raises(PermanentSendError) as info:
        send(receiver, client)
    assert "<routing key>" in str(info.value)
    assert_clean(info.value)


@pytest.mark.parametrize("status", [401, 403, 404, 301])
def test_other_client_errors_and_redirects_are_permanent(
    receiver: PageReceiver, client: httpx.Client, status: int
) -> None:
    receiver.respond(PATH, status, b"nope", headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(PermanentSendError, match=f"HTTP {status}"):
        send(receiver, client)


def test_timeout_is_retryable(receiver: PageReceiver, client: httpx.Client) -> None:
    receiver.hang(PATH, 30)  # released when the receiver closes at the end of the test
    with pytest.raises(RetryableSendError, match="timeout after 0.2s") as info:
        send(receiver, client, timeout="200ms")
    assert_clean(info.value)


def test_refused_connection_is_retryable(receiver: PageReceiver, client: httpx.Client) -> None:
    spec = channel(receiver)
    receiver.close()
    with pytest.raises(RetryableSendError, match="ConnectError") as info:
        pagerduty.send(spec, make_page(), "idem-1", client, ENV)
    assert_clean(info.value)


@pytest.mark.parametrize(
    ("environ", "why"), [({}, "is not set"), ({"PD_ROUTING_KEY": " "}, "is empty")]
)
def test_missing_routing_key_is_permanent_and_names_the_variable(
    receiver: PageReceiver, client: httpx.Client, environ: dict[str, str], why: str
) -> None:
    with pytest.raises(PermanentSendError, match=f"PD_ROUTING_KEY {why}"):
        pagerduty.send(channel(receiver), make_page(), "idem-1", client, environ)
    assert receiver.requests() == []


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_state_changes_use_the_same_dedup_key(
    receiver: PageReceiver, client: httpx.Client, action: Action
) -> None:
    detail = pagerduty.notify_state(
        channel(receiver),
        "0a1b2c3d4e5f6a7b",
        action,
        "alice",
        client,
        ENV,
    )
    [request] = receiver.requests(PATH)
    assert request.json == {
        "routing_key": SECRET,
        "dedup_key": "0a1b2c3d4e5f6a7b",
        "event_action": action,
    }
    assert detail == f"PagerDuty {action} dedup_key 0a1b2c3d4e5f6a7b"


def test_state_change_errors_map_like_send(receiver: PageReceiver, client: httpx.Client) -> None:
    spec = channel(receiver)
    receiver.respond_sequence(PATH, [503, 400])
    with pytest.raises(RetryableSendError, match="HTTP 503") as retry:
        pagerduty.notify_state(spec, "abc", "resolve", "alice", client, ENV)
    with pytest.raises(PermanentSendError, match="HTTP 400") as stop:
        pagerduty.notify_state(spec, "abc", "resolve", "alice", client, ENV)
    with pytest.raises(PermanentSendError, match="PD_ROUTING_KEY"):
        pagerduty.notify_state(spec, "abc", "resolve", "alice", client, {})
    with pytest.raises(PermanentSendError, match="unknown action"):
        pagerduty.notify_state(spec, "abc", "snooze", "alice", client, ENV)  # type: ignore[arg-type]
    assert_clean(retry.value)
    assert_clean(stop.value)
