"""The teams channel against a real local HTTP server standing in for a Teams
workflow (Power Automate) webhook (tests/support/page_receiver.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rules.channels import TeamsChannel
from tests.support.page_receiver import PageReceiver, Reply
from workers.channels import teams
from workers.channels.base import PermanentSendError, RetryableSendError
from workers.page import Page

# a workflow URL: the sig= query parameter is the secret
HOOK = "/workflows/0a1b2c/triggers/manual/paths/invoke"
QUERY = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SECRETsig123"
ENV = "TEAMS_ONCALL_WEBHOOK"
SCHEMA_ERROR = {
    "error": {
        "code": "TriggerInputSchemaMismatch",
        "message": f"The input body for trigger 'manual' of type 'Request' did not match ({QUERY})",
    }
}


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


def spec(timeout: str = "2s") -> TeamsChannel:
    return TeamsChannel.model_validate({"teams": {"url_env": ENV, "timeout": timeout}})


@pytest.fixture
def hook() -> Iterator[PageReceiver]:
    with PageReceiver() as receiver:
        receiver.respond(HOOK, status=202, body=b"")
        yield receiver


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def send(hook: PageReceiver, client: httpx.Client, page: Page | None = None, **kw: Any) -> str:
    environ = {ENV: f"{hook.url(HOOK)}?{QUERY}"}
    return teams.send(kw.get("spec", spec()), page or make_page(), "key-1", client, environ)


def texts(card: dict[str, Any]) -> list[str]:
    return [block["text"] for block in card["body"]]


def test_posts_the_documented_adaptive_card_message(
    hook: PageReceiver, client: httpx.Client
) -> None:
    assert send(hook, client) == "HTTP 202"
    (request,) = hook.requests(HOOK)
    assert request.method == "POST" and request.query == QUERY
    assert request.headers["content-type"] == "application/json"
    body = request.json
    assert set(body) == {"type", "attachments"}
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert set(attachment) == {"contentType", "contentUrl", "content"}
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert all(block["type"] == "TextBlock" and block["wrap"] for block in card["body"])
    assert card["body"][0] == {
        "type": "TextBlock",
        "text": "[SEV-1] checkout 5xx above 5%",
        "wrap": True,
        "weight": "Bolder",
        "size": "Medium",
        "color": "Attention",
    }
    assert texts(card)[1:] == [
        "**Why:** rule checkout matched service=checkout",
        "Incident inc-42 · step 0 · alice (Primary on-call engineer)",
        "**Diagnosis**",
        "health: failed - HTTP 503 (12 ms)",
        "db: ok - SELECT 1 (3 ms)",
        "**Escalation:** escalation step 1",
    ]
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Acknowledge",
            "url": "https://triaged.example/ack/inc-42?token=abc",
        }
    ]


def test_a_page_without_diagnosis_says_so(hook: PageReceiver, client: httpx.Client) -> None:
    send(hook, client, make_page(diagnosis=[], severity="SEV-4"))
    card = hook.requests(HOOK)[0].json["attachments"][0]["content"]
    assert "no probes ran" in texts(card)
    assert "color" not in card["body"][0]


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("disk **full** on _db_", r"disk \*\*full\*\* on \_db\_"),
        ("see [docs](https://evil.example)", r"see \[docs\](https://evil.example)"),
        ("~gone~ `rm -rf`", r"\~gone\~ \`rm -rf\`"),
        ("C:\\temp\\*", r"C:\\temp\\\*"),
        (
            "- not a list\n+ nor this\n1. nor this\n  2) nor this",
            "\\- not a list\n\\+ nor this\n1\\. nor this\n  2\\) nor this",
        ),
        ("# not a heading\n> not a quote\n===", "\\# not a heading\n\\> not a quote\n\\==="),
        ("{{DATE(2017-02-14T06:08:00Z, SHORT)}}", r"{\{DATE(2017-02-14T06:08:00Z, SHORT)}}"),
        (
            "&amp; &#42; <b>x</b> <https://a.example>",
            r"\&amp; \&#42; \<b>x\</b> \<https://a.example>",
        ),
        ("p99 < 2s & 5% > 1%, a-b 3.5 x_", r"p99 < 2s & 5% > 1%, a-b 3.5 x\_"),
    ],
)
def test_literal_escapes_what_textblock_markdown_would_interpret(written: str, sent: str) -> None:
    assert teams.literal(written) == sent


def test_markup_in_alert_text_arrives_escaped(hook: PageReceiver, client: httpx.Client) -> None:
    page = make_page(
        summary="**[click](https://evil.example)** {{TIME(2017-02-14T06:08:00Z)}}",
        why="- _matched_",
        reason="step *1*",
        contact="[bob](https://evil.example)",
        diagnosis=[{"name": "# h", "outcome": "failed", "detail": "1. `x`", "duration_s": 0}],
    )
    send(hook, client, page)
    card = hook.requests(HOOK)[0].json["attachments"][0]["content"]
    assert texts(card) == [
        r"[SEV-1] \*\*\[click\](https://evil.example)\*\* {\{TIME(2017-02-14T06:08:00Z)}}",
        r"**Why:** \- \_matched\_",
        r"Incident inc-42 · step 0 · \[bob\](https://evil.example) (Primary on-call engineer)",
        "**Diagnosis**",
        r"\# h: failed - 1. \`x\` (0 ms)",
        r"**Escalation:** step \*1\*",
    ]


def test_long_texts_and_many_probes_are_cut(hook: PageReceiver, client: httpx.Client) -> None:
    entries = [
        {"name": f"p{i}", "outcome": "ok", "detail": "d", "duration_s": 0} for i in range(45)
    ]
    send(hook, client, make_page(summary="*" * 5000, diagnosis=entries))
    request = hook.requests(HOOK)[0]
    card = request.json["attachments"][0]["content"]
    headline = card["body"][0]["text"]
    assert len("[SEV-1] ") + teams.TEXT_MAX - 1 <= len(headline) <= len("[SEV-1] ") + teams.TEXT_MAX
    # the cut keeps whole escapes: backslash-star pairs, never a dangling backslash
    assert headline.endswith("\\*…")
    lines = texts(card)[4:-1]
    assert len(lines) == teams.DIAGNOSIS_MAX + 1 and lines[-1] == "15 more"
    assert len(request.body) < 28_000


def test_a_cut_never_leaves_a_dangling_escape(hook: PageReceiver, client: httpx.Client) -> None:
    send(hook, client, make_page(summary="\\" * 5000))
    headline = hook.requests(HOOK)[0].json["attachments"][0]["content"]["body"][0]["text"]
    kept = headline.removeprefix("[SEV-1] ").removesuffix("…")
    assert set(kept) == {"\\"} and len(kept) % 2 == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_5xx_and_429_are_retryable(hook: PageReceiver, client: httpx.Client, status: int) -> None:
    hook.respond_sequence(HOOK, [Reply(status, json.dumps(SCHEMA_ERROR).encode())])
    with pytest.raises(RetryableSendError, match=f"HTTP {status}") as caught:
        send(hook, client)
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_other_4xx_are_permanent_with_the_error_code_only(
    hook: PageReceiver, client: httpx.Client, status: int
) -> None:
    hook.respond_sequence(HOOK, [Reply(status, json.dumps(SCHEMA_ERROR).encode())])
    with pytest.raises(PermanentSendError) as caught:
        send(hook, client)
    assert str(caught.value) == f"HTTP {status}: TriggerInputSchemaMismatch"


@pytest.mark.parametrize(
    "body", [b"", b"not json", b'{"error": "x"}', b'{"error": {"code": "a b/c"}}']
)
def test_an_error_without_a_plain_code_gives_the_status_alone(
    hook: PageReceiver, client: httpx.Client, body: bytes
) -> None:
    hook.respond_sequence(HOOK, [Reply(400, body)])
    with pytest.raises(PermanentSendError) as caught:
        send(hook, client)
    assert str(caught.value) == "HTTP 400"


def test_a_redirect_is_not_followed_and_is_permanent(
    hook: PageReceiver, client: httpx.Client
) -> None:
    hook.respond_sequence(HOOK, [Reply(307, b"", {"Location": hook.url("/elsewhere")})])
    with pytest.raises(PermanentSendError, match="HTTP 307"):
        send(hook, client)
    assert hook.requests("/elsewhere") == []


def test_a_hanging_webhook_times_out_as_retryable(hook: PageReceiver, client: httpx.Client) -> None:
    hook.hang(HOOK, 5.0)
    with pytest.raises(RetryableSendError, match="timeout after 0.2s") as caught:
        send(hook, client, spec=spec("200ms"))
    assert "SECRET" not in str(caught.value)


def test_a_refused_connection_is_retryable(hook: PageReceiver, client: httpx.Client) -> None:
    environ = {ENV: f"{hook.url(HOOK)}?{QUERY}"}
    hook.close()
    with pytest.raises(RetryableSendError) as caught:
        teams.send(spec(), make_page(), "key-1", client, environ)
    assert "SECRET" not in str(caught.value) and "127.0.0.1" not in str(caught.value)


@pytest.mark.parametrize("environ", [{}, {ENV: ""}, {ENV: "  "}])
def test_a_missing_variable_is_permanent_and_named(
    client: httpx.Client, environ: dict[str, str]
) -> None:
    with pytest.raises(PermanentSendError, match=f"environment variable {ENV} is not set"):
        teams.send(spec(), make_page(), "key-1", client, environ)


@pytest.mark.parametrize(
    "url", [f"ftp://flow.example{HOOK}?{QUERY}", f"flow.example{HOOK}?{QUERY}"]
)
def test_an_unusable_url_is_permanent_without_quoting_it(client: httpx.Client, url: str) -> None:
    with pytest.raises(PermanentSendError) as caught:
        teams.send(spec(), make_page(), "key-1", client, {ENV: url})
    assert str(caught.value) == f"the URL in {ENV} is not usable"
