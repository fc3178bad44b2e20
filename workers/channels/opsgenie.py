"""The Opsgenie channel: the Alert API (v2), keyed by ``alias`` = the incident id.

``send`` creates an alert with ``alias`` = the incident id. Opsgenie
de-duplicates on the alias: while an alert with that alias is open, a repeat
only raises its count, so every escalation step and every retry of one incident
is one Opsgenie alert. ``notify_state`` acknowledges or closes that alert by
alias when the incident is acknowledged or resolved in triaged.

The requests (base ``spec.opsgenie.url``, default https://api.opsgenie.com; the
EU instance is https://api.eu.opsgenie.com; header ``Authorization: GenieKey
<key>`` with the key from environ[api_key_env], never logged nor in an error)::

    POST /v2/alerts
        message      "[SEV-n] summary", one line, <= 130 characters
        alias        page.incident_id (<= 512)
        description  page.text(), <= 15000 characters
        details      the labels, then triaged.{incident, rule, why, reason, step,
                     contact, ack_url}: strings, <= 8000 characters in all
        priority     spec priority, else SEV-1 P1, SEV-2 P2, SEV-3 P3, SEV-4 P5
        source       "triaged"
        tags         "triaged", the severity, "rule:<name>" (<= 20 x 50 characters)
    POST /v2/alerts/{alias}/acknowledge?identifierType=alias   {user, source, note}
    POST /v2/alerts/{alias}/close?identifierType=alias         {user, source, note}

Opsgenie documents HTML formatting in the alert message, so alert text (data,
never markup) is HTML-escaped (``&``, ``<``, ``>``) in ``message``, ``description``
and ``note``, and clipped without cutting an entity in half. ``details`` are a
plain string map and go as they are, so the ack link there stays usable as-is.

Outcomes: Opsgenie answers 202 Accepted with ``{result, took, requestId}``: the
request is valid and *will be processed asynchronously*; unlike a 200 it does not
guarantee success (GET /v2/alerts/requests/{requestId} tells, later; this channel
makes one attempt and does not poll). The detail returned names the requestId.
401 (bad key, disabled integration), 402, 403, 422 (semantic error) and every
other 4xx or 3xx -> PermanentSendError; 429 (rate limited), 5xx and network
errors -> RetryableSendError.

Documentation:
    https://docs.opsgenie.com/docs/alert-api   (create, acknowledge, close, request status)
    https://docs.opsgenie.com/docs/response    (202 semantics, response codes)
    https://support.atlassian.com/opsgenie/docs/alert-fields/   (field limits, HTML message)
    https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v1/api-group-integration-events
        (the same create/acknowledge/close contract in Jira Service Management:
        url https://api.atlassian.com/jsm/ops/integration)
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx

from rules.channels import OpsgenieChannel
from workers.channels.base import PermanentSendError, post_api, secret_from_env
from workers.page import Page

MESSAGE_LIMIT = 130
DESCRIPTION_LIMIT = 15000
DETAILS_LIMIT = 8000
DETAIL_VALUE_LIMIT = 1000
NOTE_LIMIT = 25000
USER_LIMIT = 100
TAG_LIMIT = 50

PRIORITIES = {"SEV-1": "P1", "SEV-2": "P2", "SEV-3": "P3", "SEV-4": "P5"}
ACTIONS = {"acknowledge": ("acknowledge", "Acknowledged"), "resolve": ("close", "Resolved")}


def send(
    spec: OpsgenieChannel,
    page: Page,
    idempotency_key: str,
    client: httpx.Client,
    environ: Mapping[str, str],
) -> str:
    """Create (or, by alias, re-count) the incident's alert; return a short detail.

    ``idempotency_key`` is not sent: the alias already folds every retry into one alert.
    """
    key = api_key(spec, environ)
    body = _post(spec, "/v2/alerts", create_alert(page, spec.opsgenie.priority), key, client)
    return f"Opsgenie accepted alert {page.incident_id}{_request_id(body)}"


def notify_state(
    spec: OpsgenieChannel,
    incident_id: str,
    action: Literal["acknowledge", "resolve"],
    by: str,
    client: httpx.Client,
    environ: Mapping[str, str],
) -> str:
    """Acknowledge or close the incident's alert by alias; ``by`` is the Opsgenie user."""
    if action not in ACTIONS:
        raise PermanentSendError(f"Opsgenie: unknown action {action!r}")
    verb, done = ACTIONS[action]
    key = api_key(spec, environ)
    path = f"/v2/alerts/{quote(incident_id, safe='')}/{verb}"
    body = {
        "user": by[:USER_LIMIT],
        "source": "triaged",
        "note": clip_escaped(f"{done} in triaged by {by}", NOTE_LIMIT),
    }
    reply = _post(spec, path, body, key, client, params={"identifierType": "alias"})
    return f"Opsgenie accepted {verb} of {incident_id}{_request_id(reply)}"


def api_key(spec: OpsgenieChannel, environ: Mapping[str, str]) -> str:
    """The API key from the environment; PermanentSendError naming the variable."""
    return secret_from_env("Opsgenie", spec.opsgenie.api_key_env, environ, header=True)


def create_alert(page: Page, priority: str | None = None) -> dict[str, Any]:
    """The create-alert body for ``page`` (pure)."""
    tags = ["triaged", page.severity] + ([f"rule:{page.rule}"] if page.rule else [])
    return {
        "message": clip_escaped(
            " ".join(f"[{page.severity}] {page.summary}".split()), MESSAGE_LIMIT
        ),
        "alias": page.incident_id,
        "description": clip_escaped(page.text(), DESCRIPTION_LIMIT),
        "details": details(page),
        "priority": priority or PRIORITIES.get(page.severity, "P3"),
        "source": "triaged",
        "tags": [tag[:TAG_LIMIT] for tag in tags if tag],
    }


def details(page: Page) -> dict[str, str]:
    """triaged's fields first, then the labels in name order, within 8000 characters."""
    ours = {
        "triaged.incident": page.incident_id,
        "triaged.rule": page.rule or "",
        "triaged.why": page.why,
        "triaged.reason": page.reason,
        "triaged.step": str(page.escalation_step),
        "triaged.contact": page.contact,
        "triaged.ack_url": page.ack_url,
    }
    out: dict[str, str] = {}
    budget = DETAILS_LIMIT - 100  # room for the "left out" note
    left_out = 0
    for name, value in [*ours.items(), *sorted(page.labels.items())]:
        if not value or name in out:
            continue
        value = value if len(value) <= DETAIL_VALUE_LIMIT else value[: DETAIL_VALUE_LIMIT - 1] + "…"
        if len(name) + len(value) > budget:
            left_out += 1
            continue
        out[name] = value
        budget -= len(name) + len(value)
    if left_out:
        out["triaged.left_out"] = f"{left_out} labels (over the 8000-character limit)"
    return out


def clip_escaped(text: str, limit: int) -> str:
    """``text`` HTML-escaped (``&``, ``<``, ``>``), at most ``limit`` characters.

    A cut never leaves half an entity: ``&am`` would show as garbage.
    """
    escaped = html.escape(text, quote=False)
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _post(
    spec: OpsgenieChannel,
    path: str,
    body: dict[str, Any],
    key: str,
    client: httpx.Client,
    params: dict[str, str] | None = None,
) -> Any:
    settings = spec.opsgenie
    return post_api(
        client,
        settings.url.rstrip("/") + path,
        body,
        service="Opsgenie",
        timeout=settings.timeout.total_seconds(),
        secret=key,
        secret_name="<api key>",
        problem=_problem,
        headers={"Authorization": f"GenieKey {key}"},
        params=params,
    )


def _problem(response: httpx.Response) -> str:
    """``: <message> (<errors>)`` from Opsgenie's error body, else its text."""
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return f": {text[:120]}" if text else ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body["message"])] if body.get("message") else []
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        parts.append("(" + "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:5]) + ")")
    return (": " + " ".join(parts))[:300] if parts else ""


def _request_id(body: Any) -> str:
    value = body.get("requestId") if isinstance(body, dict) else None
    if isinstance(value, str) and value.isprintable() and 0 < len(value) <= 64:
        return f" (requestId {value}; processed asynchronously)"
    return " (processed asynchronously)"
