"""Kibana (Elastic Stack alerting) through the Webhook connector.

The Webhook connector's body is a Mustache template the admin writes from the rule
action variables; triaged documents this one. Create a Webhook connector (Method
POST, URL ``https://triaged.example/api/v1/alerts/kibana``, header
``Content-Type: application/json``), add it to the rule twice or more, with the
action frequency "For each alert" (not "Summary of alerts"): once for each firing
action group (e.g. "Alert", "Warning", "No Data") and once with "Run when:
Recovered", all with this body::

    {
      "rule_id": "{{rule.id}}",
      "rule_name": "{{rule.name}}",
      "rule_url": "{{rule.url}}",
      "space_id": "{{rule.spaceId}}",
      "tags": "{{rule.tags}}",
      "alert_id": "{{alert.id}}",
      "alert_uuid": "{{alert.uuid}}",
      "action_group": "{{alert.actionGroup}}",
      "action_group_name": "{{alert.actionGroupName}}",
      "flapping": "{{alert.flapping}}",
      "context_title": "{{context.title}}",
      "context_reason": "{{context.reason}}",
      "context_message": "{{context.message}}",
      "context_link": "{{context.link}}",
      "context_view_url": "{{context.viewInAppUrl}}",
      "context_details_url": "{{context.alertDetailsUrl}}",
      "service": "{{context.serviceName}}",
      "date": "{{date}}",
      "kibana_url": "{{kibanaBaseUrl}}",
      "severity": ""
    }

The connector escapes what it renders inside JSON strings, so the body stays valid
JSON. Variables a rule type does not have render as ``""`` (treated as absent):
``context.title``/``context.message``/``context.link`` come from the index
threshold and Elasticsearch query rules, ``context.reason``/``context.viewInAppUrl``
/``context.alertDetailsUrl`` from Observability rules (metric threshold, ...),
``context.serviceName`` from APM rules. ``severity`` is optional: put a fixed
value per action (e.g. ``"critical"`` on the Alert action, ``"warning"`` on the
Warning one) for rules to match. ``tags`` may also be a JSON list
(``{{{rule.tags.asJSON}}}`` without the quotes); as text it is comma-separated.
``alert_id`` may be empty (identity is then the rule alone).

Identity: ``rule_id`` + ``alert_id`` (the alert is the rule's group, e.g. a host,
or ``*`` for an ungrouped metric threshold rule), the same in the firing and the
recovered notification.

Status: ``action_group`` ``recovered`` (Kibana's recovery action group) is
resolved; every other group is firing, with a ``state`` label: ``no_data`` for a
"no data" group (``metrics.threshold.nodata`` and the like: the rule cannot
evaluate, which someone must look at), ``warning`` for a ``*.warning`` group,
``active`` otherwise, ``recovered`` when resolved. ``flapping=true`` is added
while Kibana marks the alert flapping.

Labels: ``alertname`` (rule name), ``severity`` (the optional ``severity`` key,
lowercased), ``service`` (optional), ``rule_id``, ``alert_id``, ``space_id``,
``action_group``, ``state``, ``flapping``; then the rule tags merged last: a tag
``key:value`` (or ``key=value``) becomes label ``key``, bare tags are joined into
label ``tags``.

Annotations: ``summary`` (``context_title``, else ``context_reason``, else rule
name and alert id), ``description`` (``context_message``, else
``context_reason``). ``generator_url``: the alert details, view-in-app or
context link, else the rule URL.

Grouping: ``common.group`` (alertname + service). Times: ``date`` (when the rule
scheduled the action) is ``starts_at`` of a firing alert and ``ends_at`` of a
recovered one.

A body still holding the template's literal ``{{rule.id}}`` (Kibana's connector
"Test" tab sends the template unrendered) is a test: valid, nothing stored.

Docs:
- https://www.elastic.co/guide/en/kibana/current/webhook-action-type.html
- https://www.elastic.co/guide/en/kibana/current/rule-action-variables.html
- https://www.elastic.co/guide/en/observability/current/metrics-threshold-alert.html
  (action groups Alert, Warning, No Data, Recovered)
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from receiver.model import Alert, AlertStatus
from receiver.sources.common import (
    MAX_LABELS,
    MAX_VALUE,
    group,
    labels_from,
    lower,
    merge,
    stable_id,
)

SOURCE = "kibana"
RECOVERED = "recovered"
UNRENDERED_RULE_ID = "{{rule.id}}"

_Short = Annotated[StrictStr, Field(max_length=256)]
_Title = Annotated[StrictStr, Field(max_length=1024)]
_Text = Annotated[StrictStr, Field(max_length=MAX_VALUE)]
_Url = Annotated[StrictStr, Field(max_length=4096)]


class Payload(BaseModel):
    """triaged's documented Kibana Webhook connector body."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    rule_id: StrictStr = Field(min_length=1, max_length=256)
    rule_name: StrictStr = Field(min_length=1, max_length=1024)
    rule_url: _Url | None = None
    space_id: _Short | None = None
    tags: (
        Annotated[list[_Short], Field(max_length=MAX_LABELS)]
        | Annotated[StrictStr, Field(max_length=MAX_VALUE)]
    ) = Field(default_factory=list)
    alert_id: _Title = ""
    alert_uuid: _Short | None = None
    action_group: StrictStr = Field(min_length=1, max_length=256)
    action_group_name: _Short | None = None
    flapping: StrictBool | Annotated[StrictStr, Field(max_length=32)] | None = None
    context_title: _Title | None = None
    context_reason: _Text | None = None
    context_message: _Text | None = None
    context_link: _Url | None = None
    context_view_url: _Url | None = None
    context_details_url: _Url | None = None
    service: _Short | None = None
    date: Annotated[StrictStr, Field(max_length=64)] | None = None
    kibana_url: _Url | None = None
    severity: Annotated[StrictStr, Field(max_length=64)] | None = None


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate one rendered connector body (one alert of one rule) into an alert."""
    if payload.rule_id == UNRENDERED_RULE_ID:
        return []
    resolved = payload.action_group.strip().lower() == RECOVERED
    own = {
        "alertname": payload.rule_name,
        "severity": lower(_text(payload.severity)),
        "service": _text(payload.service),
        "rule_id": payload.rule_id,
        "alert_id": _text(payload.alert_id),
        "space_id": _text(payload.space_id),
        "action_group": payload.action_group,
        "state": _state(payload),
        "flapping": "true" if lower(payload.flapping) == "true" else None,
    }
    labels = merge({k: v for k, v in own.items() if v}, _tag_labels(payload.tags))
    group_key, group_labels = group(labels)
    date = _text(payload.date)
    return [
        Alert(
            source=SOURCE,
            fingerprint=stable_id(SOURCE, payload.rule_id, payload.alert_id),
            status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
            labels=labels,
            annotations=_annotations(payload),
            starts_at=None if resolved else date,
            ends_at=date if resolved else None,
            generator_url=_text(payload.context_details_url)
            or _text(payload.context_view_url)
            or _text(payload.context_link)
            or _text(payload.rule_url),
            group_key=group_key,
            group_labels=group_labels,
        )
    ]


def _state(payload: Payload) -> str:
    group_id = payload.action_group.strip().lower()
    name = (payload.action_group_name or "").strip().lower()
    if group_id == RECOVERED:
        return "recovered"
    if group_id.endswith(("nodata", "no_data", "no data")) or name == "no data":
        return "no_data"
    if group_id.endswith("warning") or name == "warning":
        return "warning"
    return "active"


def _annotations(payload: Payload) -> dict[str, str]:
    title = _text(payload.context_title)
    reason = _text(payload.context_reason)
    alert = _text(payload.alert_id)
    fallback = f"{payload.rule_name} ({alert})" if alert else payload.rule_name
    notes = {
        "summary": title or reason or fallback,
        "description": _text(payload.context_message) or (reason if title else None),
        "action_group_name": _text(payload.action_group_name),
    }
    return {k: v[:MAX_VALUE] for k, v in notes.items() if v}


def _tag_labels(tags: list[str] | str) -> dict[str, str]:
    """Rule tags as labels: ``key:value`` / ``key=value`` pairs, bare tags in ``tags``."""
    items = tags.split(",") if isinstance(tags, str) else tags
    pairs: list[tuple[str, str]] = []
    bare: list[str] = []
    for raw in items[:MAX_LABELS]:
        tag = raw.strip()
        key, sep, value = _split_tag(tag)
        if sep and key and value:
            pairs.append((key, value))
        elif tag:
            bare.append(tag)
    if bare:
        pairs.append(("tags", ",".join(bare)))
    return labels_from(pairs)


def _split_tag(tag: str) -> tuple[str, str, str]:
    key, sep, value = tag.partition(":")
    if not sep:
        key, sep, value = tag.partition("=")
    return key.strip(), sep, value.strip()


def _text(value: str | None) -> str | None:
    """Sender text, or None when empty or blank (an unset Mustache variable)."""
    return value if value is not None and value.strip() else None
