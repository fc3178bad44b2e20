"""The teams channel: the page as an Adaptive Card to a Microsoft Teams workflow webhook.

The webhook is a Power Automate workflow ("When a Teams webhook request is
received" -> post the card). Its URL carries a signature (``sig=``), a secret, so it
comes from the environment variable named by ``url_env`` and never appears in a
detail or an error.

The request (one POST, ``Content-Type: application/json``)::

    {"type": "message",
     "attachments": [{
       "contentType": "application/vnd.microsoft.card.adaptive",
       "contentUrl": null,
       "content": {
         "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
         "type": "AdaptiveCard", "version": "1.4", "msteams": {"width": "Full"},
         "body": [TextBlock "[SEV-1] <summary>" (Bolder, Medium, color by severity),
                  TextBlock "**Why:** <why>",
                  TextBlock "Incident <id> · step <n> · <contact> (<role>)" (subtle),
                  TextBlock "**Diagnosis**", one TextBlock per probe
                  "<name>: <outcome> - <detail> (<ms> ms)",
                  TextBlock "**Escalation:** <reason>"],
         "actions": [{"type": "Action.OpenUrl", "title": "Acknowledge",
                      "url": "<page.ack_url>"}]}}]}

Alert content is data. Adaptive Card TextBlocks render a CommonMark subset (bold,
italic, lists, links) and expand ``{{DATE(...)}}`` / ``{{TIME(...)}}``; TextRun
(RichTextBlock) renders no markdown but Teams webhooks have rejected cards with
TextRuns (microsoft/AdaptiveCards#8804), so the card keeps TextBlocks and
``literal()`` backslash-escapes, CommonMark's escape, whatever the subset would
interpret: ``\\ * _ ~ ` [ ]`` anywhere; ``#``, ``>``, ``-``, ``+``, ``=`` and ``1.``
/ ``1)`` at the start of a line; ``&`` before an entity; ``<`` before a tag or
autolink; and the second brace of ``{{``. Texts are cut to 2000 characters and the
diagnosis to 30 lines, well inside Teams' ~28 KB message limit.

Outcomes: 2xx (a workflow answers 202 Accepted) -> "HTTP 202". 429 (Power
Automate throttling), 5xx, a timeout or a failed connection -> RetryableSendError.
Any other 3xx/4xx (400 a card the workflow rejects, 401/403 a bad signature, 404 a
deleted workflow), a missing variable or an unusable URL -> PermanentSendError.
The 202 means the workflow accepted the request: a failure of a later step of
the flow (posting to the channel) is not seen here. A workflow webhook has no
idempotency key: a retry after a lost answer may post the card twice.

Documentation:
    https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook
        (workflows; Adaptive Card request shape; 28 KB; rate limits)
    https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
        (the ``type: message`` / ``attachments`` / ``contentUrl: null`` envelope)
    https://learn.microsoft.com/connectors/teams/ (Microsoft Teams - Webhook trigger)
    https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format
        (markdown in TextBlock and Fact; ``msteams.width``)
    https://learn.microsoft.com/adaptive-cards/authoring-cards/text-features
        (markdown subset; DATE/TIME functions)
    https://learn.microsoft.com/adaptive-cards/schema-explorer/text-run
        ("Markdown is not supported")
    https://adaptivecards.io/explorer/Action.OpenUrl.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from rules.channels import TeamsChannel
from workers.channels.base import post_to_secret_url
from workers.page import Page, probe_line

TEXT_MAX = 2000
DIAGNOSIS_MAX = 30
_COLORS = {"SEV-1": "Attention", "SEV-2": "Attention", "SEV-3": "Warning"}
_INLINE = re.compile(r"[\\`*_~\[\]]|(?<=\{)\{|&(?=#?[A-Za-z0-9]+;)|<(?=[A-Za-z/!?])")
_LINE_MARK = re.compile(r"^([ \t]*)([#>+=-])", re.MULTILINE)
_LINE_NUMBER = re.compile(r"^([ \t]*\d+)([.)])", re.MULTILINE)
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")


def send(
    spec: TeamsChannel,
    page: Page,
    idempotency_key: str,
    client: httpx.Client,
    environ: Mapping[str, str],
) -> str:
    """POST the page as an Adaptive Card; return a short detail on success.

    Raises:
        RetryableSendError: 429, 5xx, a timeout, a refused or broken connection.
        PermanentSendError: other 3xx/4xx, the variable unset, an unusable URL.
    """
    settings = spec.teams
    response = post_to_secret_url(
        client,
        environ,
        settings.url_env,
        message(page),
        service="Teams",
        timeout=settings.timeout.total_seconds(),
        code=lambda r: _error_code(r.text),
    )
    status = response.status_code
    return f"HTTP {status}"


def message(page: Page) -> dict[str, Any]:
    """The webhook's JSON body for ``page`` (pure)."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card(page),
            }
        ],
    }


def card(page: Page) -> dict[str, Any]:
    """The Adaptive Card: headline, why, diagnosis, reason, and an Acknowledge link."""
    severity = f"[{literal(page.severity)}] "
    headline = _block(page.summary, severity, weight="Bolder", size="Medium")
    if page.severity in _COLORS:
        headline["color"] = _COLORS[page.severity]
    where = (
        f"Incident {page.incident_id} · step {page.escalation_step} · {page.contact} ({page.role})"
    )
    lines = [_block(probe_line(entry), spacing="Small") for entry in page.diagnosis[:DIAGNOSIS_MAX]]
    if len(page.diagnosis) > DIAGNOSIS_MAX:
        lines.append(_block(f"{len(page.diagnosis) - DIAGNOSIS_MAX} more", spacing="Small"))
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            headline,
            _block(page.why, "**Why:** "),
            _block(where, isSubtle=True, spacing="Small"),
            {"type": "TextBlock", "text": "**Diagnosis**", "wrap": True, "separator": True},
            *(lines or [_block("no probes ran", spacing="Small")]),
            _block(page.reason, "**Escalation:** ", separator=True),
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": page.ack_url}],
    }


def literal(text: str) -> str:
    """``text`` escaped so that a TextBlock shows it as written (see the module doc)."""
    text = _INLINE.sub(lambda m: "\\" + m.group(0), text)
    text = _LINE_MARK.sub(r"\1\\\2", text)
    return _LINE_NUMBER.sub(r"\1\\\2", text)


def _block(text: str, lead: str = "", **style: Any) -> dict[str, Any]:
    """A wrapping TextBlock: ``lead`` (markdown of our own) then literal ``text``."""
    return {"type": "TextBlock", "text": lead + _fit(literal(text)), "wrap": True, **style}


def _fit(text: str) -> str:
    if len(text) <= TEXT_MAX:
        return text
    cut = text[: TEXT_MAX - 1]
    # never end on a lone escaping backslash (it would escape the ellipsis)
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut + "…"


def _error_code(body: str) -> str:
    """The ``error.code`` of a Power Automate error answer, if it is a plain code."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return ""
    error = decoded.get("error") if isinstance(decoded, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""
