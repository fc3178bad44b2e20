"""The PagerDuty channel: Events API v2 alert events.

``send`` posts one ``trigger`` event whose ``dedup_key`` is the incident id, so
every escalation step and every retry of one incident lands on one PagerDuty
alert (PagerDuty adds a log entry to the open alert instead of opening a new
one). ``notify_state`` mirrors an acknowledgement or resolution made in triaged
with an ``acknowledge`` / ``resolve`` event for the same ``dedup_key``.

The request (``POST spec.pagerduty.url``, JSON)::

    routing_key     from environ[routing_key_env] (never logged, never in an error)
    event_action    "trigger" | "acknowledge" | "resolve"
    dedup_key       page.incident_id (PagerDuty allows 255 characters)
    payload         trigger only: summary ("[SEV-n] summary", <= 1024 characters),
                    source, severity (SEV-1 critical, SEV-2 error, SEV-3 warning,
                    SEV-4 info), timestamp (incident creation), component, group,
                    class (when the labels name them), custom_details (incident,
                    rule, why, reason, escalation step, contact, labels, one line
                    per probe)
    links           [{href: ack_url, text: "Acknowledge in triaged"}]
    client, client_url   "triaged" and the origin of the ack link

Alert text is plain text in JSON here: nothing is escaped, and it arrives as sent.

Outcomes, as documented: 202 accepted (``{status, message, dedup_key}``);
400 invalid event -> PermanentSendError; 429 rate limited, 5xx and network
errors -> RetryableSendError ("retry after some time"). Other 4xx and 3xx
(a wrong ``url``) are permanent too. The Events API cannot say *who*
acknowledged, and it drops acknowledge/resolve events for a key with no open
alert (still answering 202).

Documentation:
    https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
    https://developer.pagerduty.com/docs/events-api-v2/overview/
    https://developer.pagerduty.com/docs/events-api-v2/rate-limits/
    https://github.com/PagerDuty/api-schema/blob/main/reference/events-v2/openapiv3.json
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from rules.channels import PagerDutyChannel
from workers.channels.base import PermanentSendError, post_api, secret_from_env
from workers.page import Page

SUMMARY_LIMIT = 1024
DETAIL_LINE_LIMIT = 1000

SEVERITIES = {"SEV-1": "critical", "SEV-2": "error", "SEV-3": "warning", "SEV-4": "info"}

# Labels that name the PD-CEF fields, first present wins; a field with none is left out.
SOURCE_LABELS = ("instance", "host", "hostname", "node", "pod", "service", "job")
COMPONENT_LABELS = ("component", "service", "job")
GROUP_LABELS = ("group", "cluster", "namespace", "environment", "env")
CLASS_LABELS = ("alertname", "class")

ACTIONS = ("acknowledge", "resolve")


def send(
    spec: PagerDutyChannel,
    page: Page,
    idempotency_key: str,
    client: httpx.Client,
    environ: Mapping[str, str],
) -> str:
    """Trigger (or re-trigger) the incident's PagerDuty alert; return a short detail.

    ``idempotency_key`` is not sent: the Events API has no such header, and the
    ``dedup_key`` already folds every retry into the one alert.
    """
    key = routing_key(spec, environ)
    body = _post(spec, trigger_event(page, key), key, client)
    dedup_key = _text_field(body, "dedup_key") or page.incident_id
    return f"PagerDuty dedup_key {dedup_key}"


def notify_state(
    spec: PagerDutyChannel,
    incident_id: str,
    action: Literal["acknowledge", "resolve"],
    by: str,
    client: httpx.Client,
    environ: Mapping[str, str],
) -> str:
    """Acknowledge or resolve the incident's PagerDuty alert (``by`` cannot be sent)."""
    if action not in ACTIONS:
        raise PermanentSendError(f"PagerDuty: unknown action {action!r}")
    key = routing_key(spec, environ)
    event = {"routing_key": key, "dedup_key": incident_id, "event_action": action}
    _post(spec, event, key, client)
    return f"PagerDuty {action} dedup_key {incident_id}"


def routing_key(spec: PagerDutyChannel, environ: Mapping[str, str]) -> str:
    """The integration key from the environment; PermanentSendError naming the variable."""
    return secret_from_env("PagerDuty", spec.pagerduty.routing_key_env, environ)


def trigger_event(page: Page, key: str) -> dict[str, Any]:
    """The ``trigger`` event for ``page`` (pure)."""
    payload: dict[str, Any] = {
        "summary": _clip(" ".join(f"[{page.severity}] {page.summary}".split()), SUMMARY_LIMIT),
        "source": _first_label(page.labels, SOURCE_LABELS) or "triaged",
        "severity": SEVERITIES.get(page.severity, "error"),
        "timestamp": page.created_at,
        "custom_details": {
            "incident": page.incident_id,
            "rule": page.rule,
            "why": page.why,
            "reason": page.reason,
            "escalation_step": page.escalation_step,
            "contact": f"{page.contact} ({page.role})" if page.role else page.contact,
            "labels": dict(page.labels),
            "diagnosis": [_clip(line, DETAIL_LINE_LIMIT) for line in page.diagnosis_lines()],
        },
    }
    for field, names in (
        ("component", COMPONENT_LABELS),
        ("group", GROUP_LABELS),
        ("class", CLASS_LABELS),
    ):
        value = _first_label(page.labels, names)
        if value:
            payload[field] = value
    if not page.created_at:
        del payload["timestamp"]
    event: dict[str, Any] = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": page.incident_id,
        "payload": payload,
        "client": "triaged",
    }
    parts = urlsplit(page.ack_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        event["links"] = [{"href": page.ack_url, "text": "Acknowledge in triaged"}]
        event["client_url"] = f"{parts.scheme}://{parts.netloc}"
    return event


def _post(spec: PagerDutyChannel, event: dict[str, Any], key: str, client: httpx.Client) -> Any:
    settings = spec.pagerduty
    return post_api(
        client,
        settings.url,
        event,
        service="PagerDuty",
        timeout=settings.timeout.total_seconds(),
        secret=key,
        secret_name="<routing key>",
        problem=_problem,
    )


def _problem(response: httpx.Response) -> str:
    """``: <status>: <message> (<errors>)`` from PagerDuty's error body, else its text."""
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return f": {text[:120]}" if text else ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[k]) for k in ("status", "message") if body.get(k)]
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        parts.append("(" + "; ".join(str(e) for e in errors[:5]) + ")")
    return (": " + " ".join(parts))[:300] if parts else ""


def _text_field(body: Any, name: str) -> str:
    value = body.get(name) if isinstance(body, dict) else None
    if isinstance(value, str) and value.isprintable() and len(value) <= 255:
        return value
    return ""


def _first_label(labels: Mapping[str, str], names: tuple[str, ...]) -> str:
    for name in names:
        value = labels.get(name, "").strip()
        if value:
            return value
    return ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
