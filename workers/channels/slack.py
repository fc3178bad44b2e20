"""The slack channel: the page as a Block Kit message to a Slack incoming webhook.

The webhook URL is a secret (the token is in its path), so it comes from the
environment variable named by ``url_env`` and never appears in a detail or an error.

The request (one POST, ``Content-Type: application/json``)::

    {"text": "[SEV-1] <summary>",                 # the notification / fallback text
     "blocks": [
       {"type": "header", "text": {"type": "plain_text", "text": "[SEV-1] <summary>",
                                   "emoji": false}},                          # <= 150
       {"type": "section", "text": {"type": "mrkdwn", "verbatim": true,
                                    "text": "*Why:* ...\\n*Incident:* ..."}},  # <= 3000
       {"type": "section", "text": {... "*Diagnosis*\\n• name: outcome - detail (12 ms)"}},
       {"type": "section", "text": {... "*Escalation:* <reason>"}},
       {"type": "actions", "elements": [{"type": "button", "action_id": "acknowledge",
                                          "text": {"type": "plain_text", "text": "Acknowledge"},
                                          "url": "<page.ack_url>", "style": "primary"}]}]}

The Acknowledge button is a link button (``url``): an incoming webhook cannot
receive interactivity callbacks, so the click opens triaged's ack URL.

Alert content is data: ``&``, ``<`` and ``>`` are escaped as ``&amp;``, ``&lt;``,
``&gt;`` in every text object (Slack's control characters: ``<!channel>``,
``<url|text>`` links), mrkdwn sections are ``verbatim`` (no automatic parsing of
mentions or links), and plain text has ``emoji: false``. Slack offers no escape
for ``*bold*`` / ``_italic_``, so those may still render styled. Texts are cut to
Slack's limits (header 150, section 3000, fallback kept to 3000).

Outcomes: 2xx (Slack answers 200 ``ok``) -> "HTTP 200 ok". 429, 5xx, a timeout or a
failed connection -> RetryableSendError. Slack's documented errors (400
``invalid_payload``, 403 ``action_prohibited``, 404 ``no_service`` /
``channel_not_found``, 410 ``channel_is_archived``), any other 3xx/4xx, a missing
variable or an unusable URL -> PermanentSendError. Slack incoming webhooks have no
idempotency key: a retry after a lost answer may post the message twice.

Documentation:
    https://api.slack.com/messaging/webhooks (sending, the ``ok`` answer)
    https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks
    https://api.slack.com/reference/surfaces/formatting#escaping
    https://docs.slack.dev/reference/block-kit/blocks/header-block (text <= 150)
    https://api.slack.com/reference/block-kit/blocks#section (text <= 3000)
    https://docs.slack.dev/reference/block-kit/block-elements/button-element (url, text <= 75)
    https://api.slack.com/reference/block-kit/composition-objects#text (verbatim, emoji)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from rules.channels import SlackChannel
from workers.channels.base import post_to_secret_url
from workers.page import Page, probe_line

HEADER_MAX = 150
SECTION_MAX = 3000
FALLBACK_MAX = 3000
# Slack's error answers are short snake_case codes; anything else is not repeated
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def send(
    spec: SlackChannel,
    page: Page,
    idempotency_key: str,
    client: httpx.Client,
    environ: Mapping[str, str],
) -> str:
    """POST the page as a Block Kit message; return a short detail on success.

    Raises:
        RetryableSendError: 429, 5xx, a timeout, a refused or broken connection.
        PermanentSendError: other 3xx/4xx, the variable unset, an unusable URL.
    """
    settings = spec.slack
    response = post_to_secret_url(
        client,
        environ,
        settings.url_env,
        message(page),
        service="Slack",
        timeout=settings.timeout.total_seconds(),
        code=_error_code,
    )
    status = response.status_code
    return f"HTTP {status} ok" if response.text.strip() == "ok" else f"HTTP {status}"


def _error_code(response: httpx.Response) -> str:
    """Slack's error answer when it is one of its short codes, else nothing."""
    code = response.text.strip()
    return code if _ERROR_CODE.fullmatch(code) else ""


def message(page: Page) -> dict[str, Any]:
    """The webhook's JSON body for ``page`` (pure)."""
    headline = f"[{page.severity}] {page.summary}"
    context = (
        f"*Why:* {escape(page.why)}\n"
        f"*Incident:* {escape(page.incident_id)}    *Step:* {page.escalation_step}    "
        f"*Contact:* {escape(page.contact)} ({escape(page.role)})"
    )
    return {
        "text": fit(escape(headline), FALLBACK_MAX),
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": fit(escape(headline), HEADER_MAX),
                    "emoji": False,
                },
            },
            _section(context),
            _section("\n".join(["*Diagnosis*", *_diagnosis_lines(page)])),
            _section(f"*Escalation:* {escape(page.reason)}"),
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "acknowledge",
                        "text": {"type": "plain_text", "text": "Acknowledge", "emoji": False},
                        "url": page.ack_url,
                        "style": "primary",
                    }
                ],
            },
        ],
    }


def escape(text: str) -> str:
    """Slack's three control characters as the entities Slack decodes for display."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, never inside an entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 4))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _section(text: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": fit(text, SECTION_MAX), "verbatim": True},
    }


def _diagnosis_lines(page: Page) -> list[str]:
    if not page.diagnosis:
        return ["no probes ran"]
    return [f"• {escape(probe_line(entry))}" for entry in page.diagnosis]
