"""The Opsgenie channel against a real HTTP server on 127.0.0.1 standing in for
https://api.opsgenie.com (answers from tests/fixtures/channels/opsgenie/)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.channels import OpsgenieChannel
from tests.support.page_receiver import PageReceiver
from workers.channels import opsgenie
from workers.channels.base import PermanentSendError, RetryableSendError, SendError
from workers.page import Page

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "channels" / "opsgenie"
ALERTS = "/v2/alerts"
SECRET = "eb243592-faa2-4ba2-a551-1afdf565c889"
Action = Literal["acknowledge", "resolve"]
ENV = {"OPSGENIE_API_KEY": SECRET}
REQUEST_ID = "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"


@pytest.fixture
def receiver() -> Iterator[PageReceiver]:
    with PageReceiver() as pages:
        accepted = (FIXTURES / "accepted.json").read_bytes()
        for path in (ALERTS, f"{ALERTS}/0a1b2c3d4e5f6a7b/acknowledge"):
            pages.respond(path, 202, accepted)
        pages.respond(f"{ALERTS}/0a1b2c3d4e5f6a7b/close", 202, accepted)
        yield pages


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as c:
        yield c


def channel(receiver: PageReceiver, base: str = "", **settings: Any) -> OpsgenieChannel:
    fields = {"api_key_env": "OPSGENIE_API_KEY", "url": receiver.url(base), "timeout": "2s"}
    return OpsgenieChannel.model_validate({"opsgenie": {**fields, **settings}})


def make_page(**changes: Any) -> Page:
    fields: dict[str, Any] = {
        "incident_id": "0a1b2c3d4e5f6a7b",
        "severity": "SEV-2",
        "summary": "checkout 5xx rate above 5%",
        "labels": {"alertname": "HighErrorRate", "service": "checkout"},
        "diagnosis": [
            {"name": "health", "outcome": "failed", "detail": "HTTP 503", "duration_s": 0.12}
        ],
        "escalation_step": 1,
        "ack_url": "https://triaged.example/ack/0a1b2c3d4e5f6a7b/alice?exp=1&sig=ab",
        "contact": "alice",
        "role": "Primary on-call",
        "status": "open",
        "rule": "checkout-errors",
        "why": "matched rule checkout-errors",
        "created_at": "2025-05-01T12:00:00+00:00",
        "reason": "escalation step 2",
    }
    fields.update(changes)
    return Page(**fields)


def send(receiver: PageReceiver, client: httpx.Client, page: Page | None = None, **kw: Any) -> str:
    return opsgenie.send(channel(receiver, **kw), page or make_page(), "idem-1", client, ENV)


def assert_clean(exc: SendError) -> None:
    assert SECRET not in str(exc)
    assert SECRET not in repr(exc.args)


def test_create_alert_has_the_documented_shape(
    receiver: PageReceiver, client: httpx.Client
) -> None:
    page = make_page()
    detail = send(receiver, client, page)

    [request] = receiver.requests(ALERTS)
    assert request.method == "POST"
    assert request.headers["authorization"] == f"GenieKey {SECRET}"
    assert request.headers["content-type"] == "application/json"
    assert request.query == ""
    assert request.json == {
        "message": "[SEV-2] checkout 5xx rate above 5%",
        "alias": "0a1b2c3d4e5f6a7b",
        "description": html.escape(page.text(), quote=False),
        "details": {
            "triaged.incident": "0a1b2c3d4e5f6a7b",
            "triaged.rule": "checkout-errors",
            "triaged.why": "matched rule checkout-errors",
            "triaged.reason": "escalation step 2",
            "triaged.step": "1",
            "triaged.contact": "alice",
            "triaged.ack_url": "https://triaged.example/ack/0a1b2c3d4e5f6a7b/alice?exp=1&sig=ab",
            "alertname": "HighErrorRate",
            "service": "checkout",
        },
        "priority": "P2",
        "source": "triaged",
        "tags": ["triaged", "SEV-2", "rule:checkout-errors"],
    }
    assert "probe health: failed - HTTP 503 (120 ms)" in request.json["description"]
    assert detail == (
        f"Opsgenie accepted alert 0a1b2c3d4e5f6a7b (requestId {REQUEST_ID}; "
        "processed asynchronously)"
    )
    assert SECRET not in detail


@pytest.mark.parametrize(
    ("severity", "expected"), [("SEV-1", "P1"), ("SEV-2", "P2"), ("SEV-3", "P3"), ("SEV-4", "P5")]
)
def test_priority_follows_the_severity(
    receiver: PageReceiver, client: httpx.Client, severity: str, expected: str
) -> None:
    send(receiver, client, make_page(severity=severity))
    assert receiver.requests(ALERTS)[0].json["priority"] == expected


def test_the_spec_priority_wins(receiver: PageReceiver, client: httpx.Client) -> None:
    send(receiver, client, make_page(severity="SEV-1"), priority="P4")
    assert receiver.requests(ALERTS)[0].json["priority"] == "P4"


def test_every_step_of_one_incident_uses_one_alias(
    receiver: PageReceiver, client: httpx.Client
) -> None:
    send(receiver, client, make_page(escalation_step=0, contact="alice"))
    send(receiver, client, make_page(escalation_step=1, contact="bob"))
    assert {r.json["alias"] for r in receiver.requests(ALERTS)} == {"0a1b2c3d4e5f6a7b"}


@pytest.mark.parametrize("base", ["", "/", "/jsm/ops/integration", "/jsm/ops/integration/"])
def test_paths_hang_off_the_configured_base(
    receiver: PageReceiver, client: httpx.Client, base: str
) -> None:
    receiver.respond(base.rstrip("/") + ALERTS, 202, (FIXTURES / "accepted.json").read_bytes())
    send(receiver, client, base=base)
    assert [r.path for r in receiver.requests()] == [base.rstrip("/") + ALERTS]


def test_markup_in_alert_text_is_escaped(receiver: PageReceiver, client: httpx.Client) -> None:
    text = "<script>alert(1)</script> & <b>bold</b>"
    send(receiver, client, make_page(summary=text, labels={"note": text}))
    body = receiver.requests(ALERTS)[0].json
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
    assert body["message"] == f"[SEV-2] {escaped}"
    assert escaped in body["description"]
    assert "<" not in body["message"] + body["description"]
    assert body["details"]["note"] == text  # a plain string map: sent as it is


def test_long_text_is_clipped_to_the_documented_limits(
    receiver: PageReceiver, client: httpx.Client
) -> None:
    labels = {f"label{i:03}": "v" * 900 for i in range(30)}
    send(receiver, client, make_page(summary="&" * 500, why="<" * 20000, labels=labels))
    body = receiver.requests(ALERTS)[0].json
    assert len(body["message"]) <= 130 and body["message"].endswith("&amp;…")
    assert len(body["description"]) <= 15000 and body["description"].endswith("&lt;…")
    details = body["details"]
    assert sum(len(k) + len(v) for k, v in details.items()) <= 8000
    assert details["triaged.why"].endswith("…") and len(details["triaged.why"]) == 1000
    assert "labels (over the 8000-character limit)" in details["triaged.left_out"]
    assert all(isinstance(v, str) for v in details.values())


@given(st.text(alphabet="a&<>;é", max_size=300), st.integers(min_value=2, max_value=200))
def test_clipping_never_cuts_an_entity(text: str, limit: int) -> None:
    clipped = opsgenie.clip_escaped(text, limit)
    assert len(clipped) <= limit
    if clipped.endswith("…") and len(html.escape(text, quote=False)) > limit:
        assert text.startswith(html.unescape(clipped[:-1]))
        assert html.escape(html.unescape(clipped[:-1]), quote=False) == clipped[:-1]
    else:
        assert html.unescape(clipped) == text


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_retryable(
    receiver: PageReceiver, client: httpx.Client, status: int
) -> None:
    receiver.respond(ALERTS, status, {"message": f"echo GenieKey {SECRET}"})
    with pytest.raises(RetryableSendError, match=f"HTTP {status}") as info:
        send(receiver, client)
    assert "<api key>" in str(info.value)
    assert_clean(info.value)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_client_errors_are_permanent(
    receiver: PageReceiver, client: httpx.Client, status: int
) -> None:
    receiver.respond(ALERTS, status, (FIXTURES / "unprocessable.json").read_bytes())
    with pytest.raises(PermanentSendError, match=f"HTTP {status}") as info:
        send(receiver, client)
    assert "Request body is not processable" in str(info.value)
    assert "message: Message can not be empty." in str(info.value)
    assert_clean(info.value)


def test_timeout_is_retryable(receiver: PageReceiver, client: httpx.Client) -> None:
    receiver.hang(ALERTS, 30)  # released when the receiver closes at the end of the test
    with pytest.raises(RetryableSendError, match="timeout after 0.2s") as info:
        send(receiver, client, timeout="200ms")
    assert_clean(info.value)


def test_refused_connection_is_retryable(receiver: PageReceiver, client: httpx.Client) -> None:
    spec = channel(receiver)
    receiver.close()
    with pytest.raises(RetryableSendError, match="ConnectError") as info:
        opsgenie.send(spec, make_page(), "idem-1", client, ENV)
    assert_clean(info.value)


@pytest.mark.parametrize(
    ("environ", "why"),
    [
        ({}, "is not set"),
        ({"OPSGENIE_API_KEY": "  "}, "is empty"),
        ({"OPSGENIE_API_KEY": f"{SECRET}\r\nX-Evil: 1"}, "holds spaces or control characters"),
        ({"OPSGENIE_API_KEY": f"{SECRET} extra"}, "holds spaces or control characters"),
    ],
)
def test_a_missing_or_unusable_key_is_permanent_and_names_the_variable(
    receiver: PageReceiver, client: httpx.Client, environ: dict[str, str], why: str
) -> None:
    with pytest.raises(PermanentSendError, match=f"OPSGENIE_API_KEY {why}") as info:
        opsgenie.send(channel(receiver), make_page(), "idem-1", client, environ)
    assert_clean(info.value)
    assert receiver.requests() == []


def test_a_key_with_a_trailing_newline_is_used_stripped(
    receiver: PageReceiver, client: httpx.Client
) -> None:
    page = make_page()
    opsgenie.send(channel(receiver), page, "i", client, {"OPSGENIE_API_KEY": SECRET + "\n"})
    assert receiver.requests(ALERTS)[0].headers["authorization"] == f"GenieKey {SECRET}"


@pytest.mark.parametrize(
    ("action", "verb", "note"),
    [
        ("acknowledge", "acknowledge", "Acknowledged in triaged by alice &lt;alice@x&gt;"),
        ("resolve", "close", "Resolved in triaged by alice &lt;alice@x&gt;"),
    ],
)
def test_state_changes_address_the_alert_by_alias(
    receiver: PageReceiver, client: httpx.Client, action: Action, verb: str, note: str
) -> None:
    detail = opsgenie.notify_state(
        channel(receiver),
        "0a1b2c3d4e5f6a7b",
        action,
        "alice <alice@x>",
        client,
        ENV,
    )
    [request] = receiver.requests()
    assert request.method == "POST"
    assert request.path == f"{ALERTS}/0a1b2c3d4e5f6a7b/{verb}"
    assert parse_qs(request.query) == {"identifierType": ["alias"]}
    assert request.headers["authorization"] == f"GenieKey {SECRET}"
    assert request.json == {"user": "alice <alice@x>", "source": "triaged", "note": note}
    assert detail == (
        f"Opsgenie accepted {verb} of 0a1b2c3d4e5f6a7b (requestId {REQUEST_ID}; "
        "processed asynchronously)"
    )


def test_the_alias_is_quoted_into_the_path(receiver: PageReceiver, client: httpx.Client) -> None:
    opsgenie.notify_state(channel(receiver), "a/b c", "resolve", "alice", client, ENV)
    assert receiver.requests()[0].path == f"{ALERTS}/a%2Fb%20c/close"


def test_state_change_errors_map_like_send(receiver: PageReceiver, client: httpx.Client) -> None:
    spec = channel(receiver)
    path = f"{ALERTS}/0a1b2c3d4e5f6a7b/acknowledge"
    receiver.respond_sequence(path, [503, 429, 422])
    for expected in (RetryableSendError, RetryableSendError, PermanentSendError):
        with pytest.raises(expected) as info:
            opsgenie.notify_state(spec, "0a1b2c3d4e5f6a7b", "acknowledge", "al", client, ENV)
        assert_clean(info.value)
    with pytest.raises(PermanentSendError, match="OPSGENIE_API_KEY is not set"):
        opsgenie.notify_state(spec, "0a1b2c3d4e5f6a7b", "acknowledge", "al", client, {})
    with pytest.raises(PermanentSendError, match="unknown action"):
        opsgenie.notify_state(spec, "0a1b2c3d4e5f6a7b", "snooze", "al", client, ENV)  # type: ignore[arg-type]
