"""The slack channel against a real local HTTP server standing in for Slack's
incoming webhook (tests/support/page_receiver.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rules.channels import SlackChannel
from tests.support.page_receiver import PageReceiver, Reply
from workers.channels import slack
from workers.channels.base import PermanentSendError, RetryableSendError
from workers.page import Page

# the token-bearing path of a Slack webhook URL: must never show in a detail
HOOK = "/services/T0SECRET/B0SECRET/xoxSECRETtoken123"
ENV = "SLACK_ONCALL_WEBHOOK"


def make_page(**changes: Any) -> Page:
    fields: dict[str, Any] = {
        "incident_id": "inc-42",
        "severity": "SEV-1",
        "summary": "checkout 5xx above 5%",
        "labels": {"alertname": "CheckoutErrors", "service": "checkout"},
        "diagnosis": [
            {"name": "health", "outcome": "failed", "detail": "HTTP 503", "duration_s": 0.012},
            {"name": "db", "outcome": "ok", "detail": "SELECT 1", "duration_s": 0.0034},
        ],
        "escalation_step": 0,
        "ack_url": "https://triaged.example/ack/inc-42?token=abc",
        "contact": "alice",
        "role": "Primary on-call engineer",
        "status": "open",
        "rule": "checkout",
        "why": "rule checkout matched service=checkout",
        "created_at": "2024-05-01T10:00:00+00:00",
        "reason": "escalation step 1",
    }
    fields.update(changes)
    return Page(**fields)


def spec(timeout: str = "2s") -> SlackChannel:
    return SlackChannel.model_validate({"slack": {"url_env": ENV, "timeout": timeout}})


@pytest.fixture
def hook() -> Iterator[PageReceiver]:
    with PageReceiver() as receiver:
        receiver.respond(HOOK, status=200, body=b"ok", headers={"Content-Type": "text/html"})
        yield receiver


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def send(hook: PageReceiver, client: httpx.Client, page: Page | None = None, **kw: Any) -> str:
    environ = {ENV: hook.url(HOOK)}
    return slack.send(kw.get("spec", spec()), page or make_page(), "key-1", client, environ)


def test_posts_the_documented_block_kit_message(hook: PageReceiver, client: httpx.Client) -> None:
    assert send(hook, client) == "HTTP 200 ok"
    (request,) = hook.requests(HOOK)
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    body = request.json
    assert set(body) == {"text", "blocks"}
    assert body["text"] == "[SEV-1] checkout 5xx above 5%"
    header, why, diagnosis, reason, actions = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[SEV-1] checkout 5xx above 5%", "emoji": False},
    }
    for section in (why, diagnosis, reason):
        assert section["type"] == "section"
        assert section["text"]["type"] == "mrkdwn" and section["text"]["verbatim"] is True
    assert "*Why:* rule checkout matched service=checkout" in why["text"]["text"]
    assert (
        "inc-42" in why["text"]["text"]
        and "alice (Primary on-call engineer)" in why["text"]["text"]
    )
    assert diagnosis["text"]["text"].splitlines() == [
        "*Diagnosis*",
        "• health: failed - HTTP 503 (12 ms)",
        "• db: ok - SELECT 1 (3 ms)",
    ]
    assert reason["text"]["text"] == "*Escalation:* escalation step 1"
    assert actions == {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "acknowledge",
                "text": {"type": "plain_text", "text": "Acknowledge", "emoji": False},
                "url": "https://triaged.example/ack/inc-42?token=abc",
                "style": "primary",
            }
        ],
    }


def test_a_page_without_diagnosis_says_so(hook: PageReceiver, client: httpx.Client) -> None:
    send(hook, client, make_page(diagnosis=[]))
    blocks = hook.requests(HOOK)[0].json["blocks"]
    assert blocks[2]["text"]["text"] == "*Diagnosis*\nno probes ran"


def test_markup_in_alert_text_arrives_escaped(hook: PageReceiver, client: httpx.Client) -> None:
    page = make_page(
        summary="<!channel> disk <b>&</b> > 90% <https://evil.example|click>",
        why="matched <@U123>",
        reason="step & <!here>",
        diagnosis=[{"name": "<x>", "outcome": "failed", "detail": "a&b<c>", "duration_s": 0}],
    )
    send(hook, client, page)
    raw = hook.requests(HOOK)[0].body.decode()
    body = hook.requests(HOOK)[0].json
    escaped = (
        "&lt;!channel&gt; disk &lt;b&gt;&amp;&lt;/b&gt; &gt; 90% &lt;https://evil.example|click&gt;"
    )
    assert body["text"] == f"[SEV-1] {escaped}"
    assert body["blocks"][0]["text"]["text"] == f"[SEV-1] {escaped}"
    assert "matched &lt;@U123&gt;" in body["blocks"][1]["text"]["text"]
    assert "• &lt;x&gt;: failed - a&amp;b&lt;c&gt; (0 ms)" in body["blocks"][2]["text"]["text"]
    assert body["blocks"][3]["text"]["text"] == "*Escalation:* step &amp; &lt;!here&gt;"
    # nothing Slack would parse as a mention or a link survives, in any field
    for control in ("<!channel>", "<!here>", "<@U123>", "<https://evil"):
        assert control not in raw


def test_texts_are_cut_to_slacks_limits(hook: PageReceiver, client: httpx.Client) -> None:
    long = "x" * 5000
    entries = [
        {"name": f"p{i}", "outcome": "ok", "detail": "&" * 200, "duration_s": 1} for i in range(40)
    ]
    send(hook, client, make_page(summary=long, why=long, diagnosis=entries))
    body = hook.requests(HOOK)[0].json
    assert len(body["text"]) <= slack.FALLBACK_MAX
    assert len(body["blocks"][0]["text"]["text"]) == slack.HEADER_MAX
    for section in body["blocks"][1:4]:
        assert len(section["text"]["text"]) <= slack.SECTION_MAX
    # a cut never leaves half an entity behind
    cut = body["blocks"][2]["text"]["text"]
    assert cut.endswith("&amp;…")


@pytest.mark.parametrize(
    ("text", "limit", "cut"),
    [("a&amp;b", 4, "a…"), ("ab&lt;", 5, "ab…"), ("a&amp;b", 7, "a&amp;b"), ("abcdef", 4, "abc…")],
)
def test_fit_never_cuts_an_entity_in_half(text: str, limit: int, cut: str) -> None:
    assert slack.fit(text, limit) == cut


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_5xx_and_429_are_retryable(hook: PageReceiver, client: httpx.Client, status: int) -> None:
    hook.respond_sequence(HOOK, [Reply(status, b"rollup_error")])
    with pytest.raises(RetryableSendError, match=f"HTTP {status}") as caught:
        send(hook, client)
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "no_service"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ],
)
def test_slacks_documented_errors_are_permanent(
    hook: PageReceiver, client: httpx.Client, status: int, code: str
) -> None:
    hook.respond_sequence(HOOK, [Reply(status, code.encode())])
    with pytest.raises(PermanentSendError) as caught:
        send(hook, client)
    assert str(caught.value) == f"HTTP {status}: {code}"


def test_an_error_body_that_is_not_a_slack_code_is_not_repeated(
    hook: PageReceiver, client: httpx.Client
) -> None:
    # e.g. a proxy echoing the request line, token and all
    hook.respond_sequence(HOOK, [Reply(400, f"bad request POST {HOOK}".encode())])
    with pytest.raises(PermanentSendError) as caught:
        send(hook, client)
    assert str(caught.value) == "HTTP 400"


def test_a_redirect_is_not_followed_and_is_permanent(
    hook: PageReceiver, client: httpx.Client
) -> None:
    hook.respond_sequence(HOOK, [Reply(302, b"", {"Location": hook.url("/elsewhere")})])
    with pytest.raises(PermanentSendError, match="HTTP 302"):
        send(hook, client)
    assert hook.requests("/elsewhere") == []


def test_a_hanging_webhook_times_out_as_retryable(hook: PageReceiver, client: httpx.Client) -> None:
    hook.hang(HOOK, 5.0)
    with pytest.raises(RetryableSendError, match="timeout after 0.2s") as caught:
        send(hook, client, spec=spec("200ms"))
    assert "SECRET" not in str(caught.value)


def test_a_refused_connection_is_retryable(hook: PageReceiver, client: httpx.Client) -> None:
    environ = {ENV: hook.url(HOOK)}
    hook.close()
    with pytest.raises(RetryableSendError) as caught:
        slack.send(spec(), make_page(), "key-1", client, environ)
    assert "SECRET" not in str(caught.value) and "127.0.0.1" not in str(caught.value)


@pytest.mark.parametrize("environ", [{}, {ENV: ""}, {ENV: "   "}])
def test_a_missing_variable_is_permanent_and_named(
    client: httpx.Client, environ: dict[str, str]
) -> None:
    with pytest.raises(PermanentSendError, match=f"environment variable {ENV} is not set"):
        slack.send(spec(), make_page(), "key-1", client, environ)


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example/services/T0SECRET", "hooks.example/services/T0SECRET", "http://"]
)
def test_an_unusable_url_is_permanent_without_quoting_it(client: httpx.Client, url: str) -> None:
    with pytest.raises(PermanentSendError) as caught:
        slack.send(spec(), make_page(), "key-1", client, {ENV: url})
    assert str(caught.value) == f"the URL in {ENV} is not usable"
