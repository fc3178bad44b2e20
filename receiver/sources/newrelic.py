"""New Relic: a workflow's Webhook destination, with the default payload template.

Documented at https://docs.newrelic.com/docs/alerts/get-notified/notification-integrations/
(the webhook notifier and its default JSON payload),
https://docs.newrelic.com/docs/alerts/get-notified/custom-variables-alert-event-workflows/
(the variables: ``priority`` ``CRITICAL``/``HIGH``/``MEDIUM``/``LOW``; ``state``
``CREATED``/``ACTIVATED``/``CLOSED``; ``triggerEvent`` ``STATE_CHANGE``,
``INCIDENT_ADDED``, ``INCIDENT_CLOSED``, ``CLOSE_INACTIVE``, ``CLOSE_TTL``,
``USER_ACTION``, ``PRIORITY_CHANGED``, ``MERGE_REQUEST``) and
https://docs.newrelic.com/docs/alerts/get-notified/alert-event-workflows/ (the
notification triggers Activated, Acknowledged, Investigating, Closed, Priority changed,
Other updates). The default template, as the webhook destination fills it in::

    {"id": {{ json issueId }}, "issueUrl": {{ json issuePageUrl }},
     "title": {{ json annotations.title.[0] }}, "priority": {{ json priority }},
     "impactedEntities": {{json entitiesData.names}},
     "totalIncidents": {{json totalIncidents}}, "state": {{ json state }},
     "trigger": {{ json triggerEvent }}, "isCorrelated": {{ json isCorrelated }},
     "createdAt": {{ createdAt }}, "updatedAt": {{ updatedAt }},
     "sources": {{ json accumulations.source }},
     "alertPolicyNames": {{ json accumulations.policyName }},
     "alertConditionNames": {{ json accumulations.conditionName }},
     "workflowName": {{ json workflowName }}}

``id`` may be named ``issueId``, ``issueUrl`` ``issuePageUrl``. Optional extras read when
a custom template adds them: ``description``, ``closedAt``, ``isAcknowledged``,
``acknowledgedBy``.

Identity: the issue id (``id``). An issue is New Relic's own incident: a group of
incidents correlated across conditions and entities, from activation to close.

Resolved: ``state`` ``CLOSED``. Everything else fires, with a ``state`` label:
``activated``, ``created``, ``investigating``, and ``acknowledged`` (state
``ACKNOWLEDGED``, or ``isAcknowledged`` true): acknowledging in New Relic does not
stop triaged's escalation, a rule can match the label. The default template sends an
acknowledgement as ``ACTIVATED`` with trigger ``USER_ACTION`` (label ``trigger``).
New Relic's "Send test notification" uses a real issue: it is stored like one.

Labels: ``alertname`` (the first alert condition, else policy, else title),
``priority`` (lowercased: ``critical``..``low``; New Relic has no separate severity),
``state``, ``service`` (the first impacted entity), ``policy``, ``trigger``,
``workflow``, ``correlated``, ``sources``.

Annotations: ``summary`` (``title``), ``description``, ``impacted_entities``,
``conditions``, ``total_incidents``, ``acknowledged_by``. ``generator_url``:
``issueUrl``.

Grouping: by issue id, not by ``alertname`` + ``service``: the issue already is the
incident, and its condition and entity lists grow as incidents correlate into it, so
labels taken from them can change between its notifications while the id does not.
The group labels shown are ``alertname``, ``service`` and ``issue_id``.

Times: ``createdAt`` (epoch milliseconds) as ISO-8601; a closed issue ends at
``closedAt``, else ``updatedAt``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictStr

from receiver.model import Alert, AlertStatus
from receiver.sources.common import (
    MAX_LABELS,
    MAX_VALUE,
    group,
    http_url,
    label_name,
    labels_from,
    lower,
    stable_id,
    text,
)

SOURCE = "newrelic"

CLOSED = "CLOSED"
ACKNOWLEDGED = "ACKNOWLEDGED"

Short = Annotated[StrictStr, Field(max_length=MAX_VALUE)]
Text = Annotated[StrictStr, Field(max_length=65_536)]
Names = list[Short] | None
Epoch = Annotated[int, Field(ge=0, le=2**64 - 1)] | Annotated[StrictStr, Field(max_length=64)]
Count = Annotated[int, Field(ge=0, le=2**64 - 1)] | Annotated[StrictStr, Field(max_length=32)]
Flag = bool | Annotated[StrictStr, Field(max_length=16)]


class Payload(BaseModel):
    """A workflow notification, in the default template's keys."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[StrictStr, Field(min_length=1, max_length=256)] = Field(
        validation_alias=AliasChoices("id", "issueId")
    )
    state: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    issueUrl: Short | None = Field(  # noqa: N815
        default=None, validation_alias=AliasChoices("issueUrl", "issuePageUrl")
    )
    title: Short | None = None
    description: Text | None = None
    priority: Annotated[StrictStr, Field(max_length=64)] | None = None
    impactedEntities: Names = Field(default=None, max_length=MAX_LABELS)  # noqa: N815
    totalIncidents: (
        Annotated[int, Field(ge=0, le=2**64 - 1)]
        | Annotated[StrictStr, Field(max_length=32)]
        | None
    ) = None  # noqa: N815
    trigger: Annotated[StrictStr, Field(max_length=64)] | None = None
    isCorrelated: Flag | None = None  # noqa: N815
    isAcknowledged: Flag | None = None  # noqa: N815
    acknowledgedBy: Short | None = None  # noqa: N815
    createdAt: Epoch | None = None  # noqa: N815
    updatedAt: Epoch | None = None  # noqa: N815
    closedAt: Epoch | None = None  # noqa: N815
    sources: Names = Field(default=None, max_length=MAX_LABELS)
    alertPolicyNames: Names = Field(default=None, max_length=MAX_LABELS)  # noqa: N815
    alertConditionNames: Names = Field(default=None, max_length=MAX_LABELS)  # noqa: N815
    workflowName: Short | None = None  # noqa: N815


def _first(names: list[str] | None) -> str | None:
    return next((t for t in map(text, names or []) if t), None)


def _joined(names: list[str] | None) -> str | None:
    return ", ".join(t for t in map(text, names or []) if t) or None


def _flag(value: bool | str | None) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    return {"true": True, "false": False}.get(value.strip().lower())


def _when(value: int | str | None) -> str | None:
    """Epoch milliseconds as ISO-8601 (``None`` when absent or unreadable)."""
    digits = text(value)
    if digits is None or not (digits.isascii() and digits.isdigit()) or len(digits) > 16:
        return None
    try:
        return datetime.fromtimestamp(int(digits) / 1000, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate one workflow notification into the issue's alert."""
    p = payload
    state = p.state.strip().upper()
    acknowledged = state == ACKNOWLEDGED or _flag(p.isAcknowledged) is True
    closed = state == CLOSED
    name = (
        _first(p.alertConditionNames)
        or _first(p.alertPolicyNames)
        or text(p.title)
        or f"New Relic issue {p.id}"
    )
    correlated = _flag(p.isCorrelated)
    labels = labels_from(
        {
            "alertname": name,
            "priority": lower(p.priority),
            "state": "acknowledged" if acknowledged and not closed else label_name(state),
            "service": _first(p.impactedEntities),
            "policy": _first(p.alertPolicyNames),
            "trigger": label_name(trigger) if (trigger := text(p.trigger)) else None,
            "workflow": text(p.workflowName),
            "correlated": correlated,
            "sources": _joined(p.sources),
        }
    )
    annotations = labels_from(
        {
            "summary": text(p.title) or name,
            "description": text(p.description),
            "impacted_entities": _joined(p.impactedEntities),
            "conditions": _joined(p.alertConditionNames),
            "total_incidents": p.totalIncidents,
            "acknowledged_by": text(p.acknowledgedBy),
        }
    )
    group_key, _ = group({"issue_id": p.id}, by=("issue_id",))
    _, shown = group({**labels, "issue_id": p.id}, by=("alertname", "service", "issue_id"))
    return [
        Alert(
            source=SOURCE,
            fingerprint=stable_id("issue", p.id),
            status=AlertStatus.RESOLVED if closed else AlertStatus.FIRING,
            labels=labels,
            annotations=annotations,
            starts_at=_when(p.createdAt),
            ends_at=(_when(p.closedAt) or _when(p.updatedAt)) if closed else None,
            generator_url=http_url(p.issueUrl),
            group_key=group_key,
            group_labels=shown,
        )
    ]
