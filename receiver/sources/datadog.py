"""Datadog: the Webhooks integration, posting when a monitor notifies ``@webhook-<name>``.

Documented at https://docs.datadoghq.com/integrations/webhooks/ (the default payload
and the ``$VARIABLES`` a custom payload can use: ``$ALERT_TRANSITION`` is one of
``Recovered``, ``Triggered``/``Re-Triggered``, ``No Data``/``Re-No Data``,
``Warn``/``Re-Warn``, ``Renotify``; ``$ALERT_TYPE`` one of ``error``, ``warning``,
``success``, ``info``; ``$ALERT_PRIORITY`` ``P1``..``P5``; ``$DATE`` epoch milliseconds;
``$TAGS`` ``"key:value,key2:value2"``; ``$ALERT_TITLE`` e.g.
``[Triggered on {host:ip-012345}] Host is Down``).

Datadog's body is a template the user writes. The default payload (``id``, ``title``
``$EVENT_TITLE``, ``body``, ``event_type``, ``date``, ``last_updated``, ``org``
``{id, name}``) works: the transition, priority and group are then read from the title's
``[P1] [Triggered on {host:web-1}]`` prefix. The payload to configure, for everything
below (keys triaged reads; any may be left out, ``title`` is required)::

    {"id": "$ID", "title": "$EVENT_TITLE", "body": "$TEXT_ONLY_MSG",
     "event_type": "$EVENT_TYPE", "date": "$DATE", "last_updated": "$LAST_UPDATED",
     "org": {"id": "$ORG_ID", "name": "$ORG_NAME"},
     "alert_id": "$ALERT_ID", "alert_title": "$ALERT_TITLE",
     "alert_transition": "$ALERT_TRANSITION", "alert_type": "$ALERT_TYPE",
     "alert_priority": "$ALERT_PRIORITY", "alert_scope": "$ALERT_SCOPE",
     "alert_status": "$ALERT_STATUS", "alert_metric": "$ALERT_METRIC",
     "alert_query": "$ALERT_QUERY", "alert_cycle_key": "$ALERT_CYCLE_KEY",
     "aggreg_key": "$AGGREG_KEY", "hostname": "$HOSTNAME", "tags": "$TAGS",
     "link": "$LINK", "snapshot": "$SNAPSHOT"}

Empty values and variables Datadog left unreplaced (``"$HOSTNAME"``) count as absent.
Ids may be numbers (``"alert_id": $ALERT_ID`` without quotes).

Identity: the monitor (``alert_id``, else the monitor name from the title) and its
group: the scope (``alert_scope``, else the title's ``on {...}``: the documented "tags
triggering the alert", order ignored), else ``aggreg_key``, else ``hostname``; within
``org.id``. A monitor group's notifications, from ``Triggered`` to ``Recovered``, share
it.

Resolved: ``Recovered``. Everything else fires, with a ``state`` label (the transition:
``triggered``, ``re_triggered``, ``warn``, ``re_warn``, ``no_data``, ``re_no_data``,
``renotify``; an undocumented one as it comes). A body with no transition at all (no
``alert_transition``, no ``[Transition]`` in the title: not a monitor notification)
holds nothing to store: ``[]``.

Labels: ``alertname`` (the monitor name: ``alert_title`` or ``title`` without its
``[...]`` prefix), ``severity`` (``warning`` for ``Warn``/``Re-Warn``, else
``alert_type`` when ``error``/``warning``/``info``, else ``error`` for
``Triggered``/``Re-Triggered``, Datadog's own word for an alert), ``priority``
(``p1``..``p5``), ``state``, ``service`` and ``host`` (``hostname``, else the scope's
``service:``/``host:``, else the tags'), ``monitor_id``, ``event_type``, ``metric``,
``org``; then the scope's ``key:value`` pairs, then ``$TAGS`` (a tag without a value is
``"true"``), never overriding those.

Annotations: ``summary`` (the title, e.g. ``[Triggered on {host:web-1}] CPU high``),
``description`` (``body``, without its ``%%%`` markdown markers), ``alert_status``,
``alert_query``, ``tags``, ``snapshot``, ``cycle_key``. ``generator_url``: ``link``.

Grouping: ``alertname`` + ``service``. Times: ``date`` (else ``last_updated``), epoch
milliseconds or seconds, as ISO-8601: the start of a firing alert, the end of a
recovered one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from receiver.model import Alert, AlertStatus
from receiver.sources.common import (
    MAX_LABELS,
    MAX_VALUE,
    group,
    http_url,
    label_name,
    label_value,
    labels_from,
    lower,
    merge,
    stable_id,
)

SOURCE = "datadog"

# the documented $ALERT_TRANSITION values, longest first ("Re-Warn" before "Warn")
TRANSITIONS = (
    "Re-Triggered",
    "Re-No Data",
    "Recovered",
    "Triggered",
    "Renotify",
    "No Data",
    "Re-Warn",
    "Warn",
)
RECOVERED = "Recovered"
WARN = frozenset({"Warn", "Re-Warn"})
ALERT = frozenset({"Triggered", "Re-Triggered"})
ALERT_TYPES = frozenset({"error", "warning", "info"})

_PLACEHOLDER = re.compile(r"\$[A-Z][A-Z0-9_]*(\[[^\]]*\])?")
_PREFIX = re.compile(r"\s*\[([^\[\]]{0,1024})\]")
_PRIORITY = re.compile(r"[Pp][1-5]")

Short = Annotated[StrictStr, Field(max_length=MAX_VALUE)]
Text = Annotated[StrictStr, Field(max_length=65_536)]
Url = Annotated[StrictStr, Field(max_length=8192)]
Id = Annotated[int, Field(ge=0, le=2**64 - 1)] | Annotated[StrictStr, Field(max_length=256)]


class Org(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Id | None = None
    name: Short | None = None


class Payload(BaseModel):
    """The webhook body: the default payload's keys plus the template variables above."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: Annotated[StrictStr, Field(min_length=1, max_length=MAX_VALUE)]
    id: Id | None = None
    body: Text | None = None
    event_type: Short | None = None
    date: Id | None = None
    last_updated: Id | None = None
    org: Org | None = None
    alert_id: Id | None = None
    alert_title: Short | None = None
    alert_transition: Annotated[StrictStr, Field(max_length=64)] | None = None
    alert_type: Annotated[StrictStr, Field(max_length=64)] | None = None
    alert_priority: Annotated[StrictStr, Field(max_length=64)] | None = None
    alert_scope: Short | None = None
    alert_status: Text | None = None
    alert_metric: Short | None = None
    alert_query: Text | None = None
    alert_cycle_key: Short | None = None
    aggreg_key: Short | None = None
    hostname: Short | None = None
    tags: Text | list[Short] | None = Field(default=None)
    link: Url | None = None
    snapshot: Url | None = None


def _text(value: Any) -> str | None:
    """A value as text; empty, or a variable Datadog left unreplaced, is absent."""
    text = label_value(value)
    if text is None:
        return None
    text = text.strip()
    return None if not text or _PLACEHOLDER.fullmatch(text) else text


def _canonical(transition: str) -> str | None:
    """The documented transition a text starts with (``Triggered on {...}``), if any."""
    low = transition.lower()
    for known in TRANSITIONS:
        k = known.lower()
        if low == k or low.startswith(k + " "):
            return known
    return None


class Title(NamedTuple):
    """A monitor title: its ``[P1] [Triggered on {host:web-1}]`` prefix, and the name."""

    name: str
    priority: str | None
    transition: str | None
    scope: str | None


def _title(title: str) -> Title:
    priority = transition = scope = None
    rest = title
    for _ in range(3):
        m = _PREFIX.match(rest)
        if m is None:
            break
        inner = m.group(1).strip()
        if priority is None and _PRIORITY.fullmatch(inner):
            priority = inner
        elif transition is None and (known := _canonical(inner)) is not None:
            transition = known
            after = inner[len(known) :].strip()
            if after.lower().startswith("on "):
                scope = after[3:].strip().strip("{}").strip() or None
        else:
            break
        rest = rest[m.end() :]
    return Title(rest.strip() or title.strip(), priority, transition, scope)


def _pairs(text: str | list[str] | None) -> list[tuple[str, str]]:
    """``"env:prod, role:db, monitor"`` as ``[("env", "prod"), ("role", "db"),
    ("monitor", "true")]``; ``*`` (no scope) gives nothing."""
    items = text if isinstance(text, list) else (text or "").split(",")
    out: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.strip().partition(":")
        key, value = key.strip(), value.strip()
        if key and key != "*" and not _PLACEHOLDER.fullmatch(key):
            out.append((key, value if sep and value else "true"))
        if len(out) >= MAX_LABELS:
            break
    return out


def _when(*values: Any) -> str | None:
    """The first epoch (milliseconds, or seconds) among ``values`` as ISO-8601."""
    for value in values:
        text = _text(value)
        if text is None or not (text.isascii() and text.isdigit()) or len(text) > 16:
            continue
        n = int(text)
        try:
            return datetime.fromtimestamp(n / 1000 if n >= 10**11 else n, tz=UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            continue
    return None


def _severity(transition: str, alert_type: str | None) -> str | None:
    if transition in WARN:
        return "warning"
    if alert_type in ALERT_TYPES:
        return alert_type
    return "error" if transition in ALERT else None


def _body(value: str | None) -> str | None:
    """The event text, without the ``%%%`` markers that wrap Datadog's markdown."""
    text = _text(value)
    return _text(text.removeprefix("%%%").removesuffix("%%%")) if text else None


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate one monitor notification into its alert (none for other events)."""
    p = payload
    title = _title(_text(p.alert_title) or p.title)
    event_title = _title(p.title)
    raw = _text(p.alert_transition) or title.transition or event_title.transition
    if raw is None:
        return []
    transition = _canonical(raw) or raw
    scope_text = _text(p.alert_scope) or title.scope or event_title.scope
    scope = labels_from(_pairs(scope_text))
    tag_text = p.tags if isinstance(p.tags, list) else _text(p.tags)
    tags = labels_from(_pairs(tag_text))
    org_id = _text(p.org.id) if p.org else None
    monitor = _text(p.alert_id)
    labels = merge(
        labels_from(
            {
                "alertname": title.name or (f"monitor {monitor}" if monitor else "Datadog monitor"),
                "severity": _severity(transition, lower(_text(p.alert_type))),
                "priority": lower(_text(p.alert_priority) or title.priority),
                "state": label_name(transition),
                "service": scope.get("service") or tags.get("service"),
                "host": _text(p.hostname) or scope.get("host") or tags.get("host"),
                "monitor_id": monitor,
                "event_type": _text(p.event_type),
                "metric": _text(p.alert_metric),
                "org": _text(p.org.name) if p.org else None,
            }
        ),
        scope,
        tags,
    )
    annotations = labels_from(
        {
            "summary": _text(p.alert_title) or _text(p.title),
            "description": _body(p.body),
            "alert_status": _text(p.alert_status),
            "alert_query": _text(p.alert_query),
            "tags": ", ".join(tag_text) if isinstance(tag_text, list) else tag_text,
            "snapshot": http_url(_text(p.snapshot)),
            "cycle_key": _text(p.alert_cycle_key),
        }
    )
    group_tags = ",".join(f"{k}:{v}" for k, v in sorted(_pairs(scope_text)))
    where = group_tags or _text(p.aggreg_key) or _text(p.hostname) or ""
    at = _when(p.date, p.last_updated)
    resolved = transition == RECOVERED
    group_key, group_labels = group(labels)
    return [
        Alert(
            source=SOURCE,
            fingerprint=stable_id("monitor", org_id, monitor or title.name, where),
            status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
            labels=labels,
            annotations=annotations,
            starts_at=None if resolved else at,
            ends_at=at if resolved else None,
            generator_url=http_url(_text(p.link)),
            group_key=group_key,
            group_labels=group_labels,
        )
    ]
