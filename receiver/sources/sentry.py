"""Sentry webhooks: issue alerts, metric alerts, issue webhooks and the legacy plugin.

Sentry names the resource in the ``Sentry-Hook-Resource`` header, but an adapter
sees only the body, so the kind is told from the body's documented shape:

- ``data.metric_alert`` -> metric alert (resource ``metric_alert``; ``action`` is
  ``critical``, ``warning`` or ``resolved``);
- ``data.event`` -> issue alert (resource ``event_alert``; ``action`` ``triggered``),
  sent by an Internal Integration chosen as an alert rule action;
- ``data.issue`` -> issue webhook (resource ``issue``: ``created``, ``resolved``,
  ``assigned``, ``archived``/``ignored``, ``unresolved``; also ``activity_alert``);
- no ``data`` but a top-level ``id`` -> the legacy WebHooks plugin (per-project
  "WebHooks" integration: ``id`` is the issue, ``event`` the event, no ``action``).

Any other integration body (``installation``, ``comment``, ``error``, ``seer`` ...:
``action`` and ``data`` without those keys) is valid and stores nothing (``[]``).

Identity: the issue id for everything about an issue (``data.event.issue_id``,
``data.issue.id``, the legacy ``id``), so an issue alert and the issue webhook that
later resolves the issue share a fingerprint; the metric alert (incident) id
``data.metric_alert.id`` for metric alerts, shared by its critical, warning and
resolved notifications.

Status: metric alert ``resolved`` is resolved, ``critical``/``warning`` firing.
Issue alerts and the legacy plugin are firing. Issue webhooks: ``resolved`` and
``archived``/``ignored`` (muted on purpose: stop paging) are resolved, ``created``
and ``unresolved`` firing; any other action (``assigned``, ``triggered``) follows
``data.issue.status``. The action is the ``state`` label.

Labels: ``alertname`` (issue or event title; the alert rule name for metric
alerts), ``severity`` (the event/issue ``level``: fatal, error, warning, info,
debug; the metric alert action ``critical``/``warning``), ``service`` (the project
slug: ``data.issue.project.slug``, the legacy ``project_slug``, or the project
segment of ``data.event.url``; the rule's projects for metric alerts),
``environment``, ``issue_id``, ``project_id``, ``rule`` (the triggered rule),
``state``; metric alerts add ``rule_id`` and ``metric_alert_id``. Event tags
(``[[key, value], ...]``) are merged last.

Annotations: ``summary`` (title; metric ``description_title``), ``description``
(culprit; metric ``description_text``). ``generator_url``: the web URL of the
event, issue or metric alert.

Grouping: issue-based alerts by ``issue_id``: a Sentry issue is already Sentry's
deduplicated group of events, and the firing body (issue alert: rule name, event
title) and the resolving body (issue webhook: issue title) share nothing else that
is stable. Metric alerts by ``common.group`` (alert rule name + projects).

Docs:
- https://docs.sentry.io/organization/integrations/integration-platform/webhooks/
- https://docs.sentry.io/organization/integrations/integration-platform/webhooks/issue-alerts/
- https://docs.sentry.io/organization/integrations/integration-platform/webhooks/metric-alerts/
- https://docs.sentry.io/organization/integrations/integration-platform/webhooks/issues/
- legacy plugin body: ``get_group_data`` in
  https://github.com/getsentry/sentry/blob/master/src/sentry/plugins/sentry_webhooks/plugin.py
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from receiver.model import Alert, AlertStatus
from receiver.sources.common import (
    MAX_LABELS,
    MAX_VALUE,
    group,
    label_value,
    labels_from,
    lower,
    merge,
    stable_id,
)

SOURCE = "sentry"

METRIC_ACTIONS = frozenset({"critical", "warning", "resolved"})
_RESOLVING = frozenset({"resolved", "archived", "ignored"})
_FIRING = frozenset({"created", "unresolved"})

_Id = (
    Annotated[StrictStr, Field(min_length=1, max_length=64)]
    | Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]  # what label_value can write
)
_Short = Annotated[StrictStr, Field(max_length=256)]
_Title = Annotated[StrictStr, Field(max_length=1024)]
_Text = Annotated[StrictStr, Field(max_length=MAX_VALUE)]
_Url = Annotated[StrictStr, Field(max_length=4096)]
_Time = Annotated[StrictStr, Field(max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TagObject(_Model):
    """A tag written as ``{"key": ..., "value": ...}`` (some legacy bodies)."""

    key: _Short
    value: _Text | None = None


_Tag = tuple[_Short, _Text | None] | TagObject


class Metadata(_Model):
    type: _Title | None = None
    value: _Text | None = None
    title: _Title | None = None


class Event(_Model):
    """``data.event`` of an issue alert, or ``event`` of the legacy plugin."""

    title: _Title | None = None
    message: _Text | None = None
    level: _Short | None = None
    issue_id: _Id | None = None
    event_id: _Short | None = None
    url: _Url | None = None
    web_url: _Url | None = None
    environment: _Short | None = None
    project: _Id | None = None
    release: _Short | None = None
    culprit: _Title | None = None
    datetime: _Time | None = None
    metadata: Metadata | None = None
    tags: list[_Tag] = Field(default_factory=list, max_length=MAX_LABELS)


class IssueAlert(_Model):
    title: _Title | None = None


class AlertRule(_Model):
    id: _Id | None = None
    name: StrictStr = Field(min_length=1, max_length=1024)
    environment: _Short | None = None
    projects: list[_Short] = Field(default_factory=list, max_length=64)


class MetricAlert(_Model):
    """``data.metric_alert``: the incident that triggered the alert rule."""

    id: _Id
    alert_rule: AlertRule
    title: _Title | None = None
    projects: list[_Short] = Field(default_factory=list, max_length=64)
    date_started: _Time | None = None
    date_closed: _Time | None = None


class Project(_Model):
    id: _Id | None = None
    slug: _Short | None = None
    name: _Short | None = None


class Issue(_Model):
    """``data.issue`` of an issue (or activity alert) webhook."""

    id: _Id
    title: _Title | None = None
    level: _Short | None = None
    status: _Short | None = None
    substatus: _Short | None = None
    shortId: _Short | None = None  # noqa: N815
    culprit: _Title | None = None
    web_url: _Url | None = None
    permalink: _Url | None = None
    firstSeen: _Time | None = None  # noqa: N815
    project: Project | None = None
    metadata: Metadata | None = None


class Data(_Model):
    event: Event | None = None
    triggered_rule: _Title | None = None
    issue_alert: IssueAlert | None = None
    metric_alert: MetricAlert | None = None
    description_title: _Title | None = None
    description_text: _Text | None = None
    web_url: _Url | None = None
    issue: Issue | None = None


class Payload(_Model):
    """An integration-platform body (``action`` + ``data``) or a legacy plugin body."""

    action: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    data: Data | None = None
    # the legacy WebHooks plugin
    id: _Id | None = None
    project: _Short | None = None
    project_slug: _Short | None = None
    level: _Short | None = None
    culprit: _Title | None = None
    message: _Text | None = None
    url: _Url | None = None
    triggering_rules: list[_Title] = Field(default_factory=list, max_length=64)
    event: Event | None = None

    @model_validator(mode="after")
    def _one_documented_shape(self) -> Self:
        if self.data is not None:
            if self.action is None:
                raise _shape_error(("action",), "required with data (a Sentry integration webhook)")
            if self.data.metric_alert is not None and self.action not in METRIC_ACTIONS:
                raise _shape_error(
                    ("action",), "a metric alert's action is critical, warning or resolved"
                )
            if self.data.event is not None and self.data.event.issue_id is None:
                raise _shape_error(("data", "event", "issue_id"), "required in an issue alert")
        elif self.id is None:
            raise _shape_error(
                ("data",),
                "required: the body is neither a Sentry integration webhook (action, data) "
                "nor a legacy WebHooks plugin body (id, project, event)",
            )
        return self


def _shape_error(loc: tuple[str, ...], message: str) -> ValidationError:
    """A ValidationError at ``loc`` (a model validator's own errors have no location)."""
    error = PydanticCustomError("sentry_shape", message)
    details = InitErrorDetails(type=error, loc=loc, input=None)
    return ValidationError.from_exception_data("Payload", [details])


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate one Sentry webhook into at most one alert."""
    data = payload.data
    if data is None:
        return [_legacy(payload)]
    if data.metric_alert is not None:
        return [_metric_alert(payload.action or "", data, data.metric_alert)]
    if data.event is not None:
        return [_issue_alert(payload.action or "", data, data.event)]
    if data.issue is not None:
        return [_issue(payload.action or "", data.issue)]
    return []


def _issue_alert(action: str, data: Data, event: Event) -> Alert:
    tags = _tags(event.tags)
    rule = data.triggered_rule or (data.issue_alert.title if data.issue_alert else None)
    own = {
        "alertname": _title(event.title, event.metadata, event.message),
        "severity": lower(event.level) or tags.get("level"),
        "service": _project_slug(event.url),
        "environment": event.environment or tags.get("environment"),
        "issue_id": label_value(event.issue_id),
        "project_id": label_value(event.project),
        "rule": rule,
        "state": lower(action),
    }
    return _issue_based(
        event.issue_id,
        own,
        tags,
        _notes(own["alertname"], event.culprit),
        event.web_url,
        AlertStatus.FIRING,
        event.datetime,
    )


def _issue(action: str, issue: Issue) -> Alert:
    project = issue.project or Project()
    own = {
        "alertname": _title(issue.title, issue.metadata, None),
        "severity": lower(issue.level),
        "service": project.slug,
        "issue_id": label_value(issue.id),
        "project_id": label_value(project.id),
        "short_id": issue.shortId,
        "substatus": lower(issue.substatus),
        "state": lower(action),
    }
    verb = action.lower()
    if verb in _RESOLVING:
        status = AlertStatus.RESOLVED
    elif verb in _FIRING:
        status = AlertStatus.FIRING
    else:
        resolved = lower(issue.status) in _RESOLVING
        status = AlertStatus.RESOLVED if resolved else AlertStatus.FIRING
    return _issue_based(
        issue.id,
        own,
        {},
        _notes(own["alertname"], issue.culprit),
        issue.web_url or issue.permalink,
        status,
        issue.firstSeen,
    )


def _legacy(payload: Payload) -> Alert:
    event = payload.event or Event()
    tags = _tags(event.tags)
    rules = ", ".join(r for r in payload.triggering_rules if r.strip())
    own = {
        "alertname": _title(event.title, event.metadata, payload.message or payload.culprit),
        "severity": lower(payload.level or event.level) or tags.get("level"),
        "service": payload.project_slug or payload.project,
        "environment": event.environment or tags.get("environment"),
        "issue_id": label_value(payload.id),
        "rule": rules or None,
        "state": "triggered",
    }
    return _issue_based(
        payload.id,
        own,
        tags,
        _notes(own["alertname"], payload.culprit or event.culprit),
        payload.url,
        AlertStatus.FIRING,
        event.datetime,
    )


def _issue_based(
    issue_id: str | int | None,
    own: dict[str, str | None],
    tags: dict[str, str],
    annotations: dict[str, str],
    url: str | None,
    status: AlertStatus,
    started: str | None,
) -> Alert:
    labels = merge({k: v for k, v in own.items() if v}, tags)
    group_key, group_labels = group(labels, by=("issue_id",))
    return Alert(
        source=SOURCE,
        fingerprint=stable_id(SOURCE, "issue", issue_id),
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=started,
        generator_url=url,
        group_key=group_key,
        group_labels=group_labels,
    )


def _metric_alert(action: str, data: Data, metric: MetricAlert) -> Alert:
    rule = metric.alert_rule
    projects = sorted(set(rule.projects or metric.projects))
    own = {
        "alertname": rule.name,
        "severity": action if action in ("critical", "warning") else None,
        "service": ",".join(projects) or None,
        "environment": rule.environment,
        "rule_id": label_value(rule.id),
        "metric_alert_id": label_value(metric.id),
        "state": action,
    }
    labels = {k: v for k, v in own.items() if v}
    group_key, group_labels = group(labels)
    resolved = action == "resolved"
    summary = data.description_title or metric.title or rule.name
    notes = {"summary": summary, "description": data.description_text}
    return Alert(
        source=SOURCE,
        fingerprint=stable_id(SOURCE, "metric_alert", metric.id),
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        labels=labels,
        annotations={k: v for k, v in notes.items() if v},
        starts_at=metric.date_started,
        ends_at=metric.date_closed if resolved else None,
        generator_url=data.web_url,
        group_key=group_key,
        group_labels=group_labels,
    )


def _title(title: str | None, metadata: Metadata | None, fallback: str | None) -> str:
    if title and title.strip():
        return title
    if metadata is not None:
        if metadata.title:
            return metadata.title
        if metadata.type or metadata.value:
            return ": ".join(p for p in (metadata.type, metadata.value) if p)[:1024]
    if fallback and fallback.strip():
        return fallback[:1024]
    return "Sentry issue"


def _notes(summary: str | None, culprit: str | None) -> dict[str, str]:
    notes = {"summary": summary, "description": culprit}
    return {k: v for k, v in notes.items() if v and v.strip()}


def _tags(tags: list[Any]) -> dict[str, str]:
    pairs = ((t.key, t.value) if isinstance(t, TagObject) else (t[0], t[1]) for t in tags)
    return labels_from(pairs)


def _project_slug(api_url: str | None) -> str | None:
    """The project slug in an event's API URL: ``.../api/0/projects/<org>/<project>/...``."""
    if not api_url:
        return None
    _, found, rest = api_url.partition("/api/0/projects/")
    parts = rest.split("/")
    return parts[1] if found and len(parts) > 2 and parts[1] else None
