"""Uptime Kuma: the "Webhook" notification type, body "application/json".

Uptime Kuma documents the body by its source:
https://github.com/louislam/uptime-kuma/blob/master/server/notification-providers/webhook.js
posts ``{"heartbeat": <heartbeat>, "monitor": <monitor>, "msg": <text>}``, with the
heartbeat from ``server/model/heartbeat.js`` (``toJSON``: ``monitorID``, ``status``,
``time``, ``msg``, ``ping``, ``important``, ``duration``; ``sendNotification`` in
``server/model/monitor.js`` adds ``timezone``, ``timezoneOffset``, ``localDateTime``
and, on recovery, ``lastDownTime``) and the monitor from ``Monitor.toJSON`` (``id``,
``name``, ``description``, ``pathName``, ``url``, ``hostname``, ``port``, ``type``,
``tags``...). Uptime Kuma has no published webhook schema beyond this source.

A test notification (``server.js`` ``testNotification``: ``msg`` is
``"<notification name> Testing"``) carries only ``msg``, ``heartbeat`` and ``monitor``
being ``null``: nothing to store (``[]``). So do the certificate and domain expiry
notices, which are dropped the same way (they have no monitor identity to keep).

Identity: the monitor's id (``monitor.id``, else ``heartbeat.monitorID``); the down
and the up notification of one monitor share it.

Resolved: heartbeat ``status`` 1 (UP). Everything else fires, with a ``state`` label:
0 ``down``, 2 ``pending`` (failing, retries not yet exhausted), 3 ``maintenance``
(a rule can match ``state="maintenance"`` to keep it quiet); UP is ``state="up"``.

Labels: ``alertname`` (the monitor's name), ``service`` (the monitor's ``service``
tag, else its name), ``severity`` / ``priority`` (the monitor's tags of that name,
lowercased), ``state``, ``host`` (the monitor's hostname, else its URL's host),
``monitor_id``, ``monitor_type``, ``path`` (the monitor's group path); then the
monitor's tags (``name=value``; a tag without a value is ``"true"``), never
overriding those.

Annotations: ``summary`` (Uptime Kuma's ``msg``, e.g. ``[api] [🔴 Down] timeout``),
``description`` (the heartbeat message), ``url``, ``monitor_description``,
``ping_ms``, ``local_time``. Uptime Kuma sends no link to itself: no ``generator_url``.

Grouping: ``alertname`` + ``service``, i.e. one incident per monitor.

Times: the heartbeat ``time`` (UTC, ``YYYY-MM-DD HH:MM:SS[.mmm]``) as ISO-8601: the
start of a down alert, the end of an up alert (whose start is ``lastDownTime``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

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

SOURCE = "uptime-kuma"

STATES = {0: "down", 1: "up", 2: "pending", 3: "maintenance"}
UP = 1

Short = Annotated[StrictStr, Field(max_length=MAX_VALUE)]
Text = Annotated[StrictStr, Field(max_length=65_536)]
Time = Annotated[StrictStr, Field(max_length=64)]
MonitorId = (
    Annotated[int, Field(ge=0, le=2**63 - 1)]
    | Annotated[StrictStr, Field(min_length=1, max_length=64)]
)


class Tag(BaseModel):
    """A monitor tag (``monitor_tag`` joined with ``tag``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Short
    value: Short | None = None


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    monitorID: MonitorId | None = None  # noqa: N815
    status: Literal[0, 1, 2, 3]
    time: Time | None = None
    msg: Text | None = None
    ping: float | None = None
    important: bool | None = None
    duration: float | None = None
    timezone: Short | None = None
    localDateTime: Time | None = None  # noqa: N815
    lastDownTime: Time | None = None  # noqa: N815


class Monitor(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: MonitorId | None = None
    name: Short | None = None
    description: Text | None = None
    pathName: Short | None = None  # noqa: N815
    url: Short | None = None
    hostname: Short | None = None
    port: int | Annotated[StrictStr, Field(max_length=16)] | None = None
    type: Short | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_LABELS)


class Payload(BaseModel):
    """Uptime Kuma's webhook body."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    heartbeat: Heartbeat | None
    monitor: Monitor | None
    msg: Text

    @model_validator(mode="after")
    def _has_monitor_id(self) -> Payload:
        if self.heartbeat is not None:
            has_id = (self.monitor is not None and self.monitor.id is not None) or (
                self.heartbeat.monitorID is not None
            )
            if not has_id:
                raise ValueError("a heartbeat needs monitor.id or heartbeat.monitorID")
        return self


def _iso(raw: str | None) -> str | None:
    """Uptime Kuma's UTC ``YYYY-MM-DD HH:MM:SS.mmm`` as ISO-8601 (raw if unreadable)."""
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat()


def _host(monitor: Monitor) -> str | None:
    if monitor.hostname:
        return monitor.hostname
    if not monitor.url:
        return None
    try:
        return urlsplit(monitor.url).hostname or None
    except ValueError:
        return None


def _tags(monitor: Monitor) -> dict[str, str]:
    return labels_from((t.name, t.value or "true") for t in monitor.tags if t.name)


def _alert(payload: Payload, heartbeat: Heartbeat, monitor: Monitor) -> Alert:
    monitor_id = monitor.id if monitor.id is not None else heartbeat.monitorID
    tags = _tags(monitor)
    name = monitor.name or f"monitor {monitor_id}"
    state = STATES[heartbeat.status]
    labels = merge(
        labels_from(
            {
                "alertname": name,
                "service": tags.get("service") or name,
                "severity": lower(tags.get("severity")),
                "priority": lower(tags.get("priority")),
                "state": state,
                "host": _host(monitor),
                "monitor_id": monitor_id,
                "monitor_type": monitor.type or None,
                "path": monitor.pathName or None,
            }
        ),
        tags,
    )
    annotations = labels_from(
        {
            "summary": payload.msg or f"{name}: {state}",
            "description": heartbeat.msg or None,
            "url": monitor.url or None,
            "monitor_description": monitor.description or None,
            "ping_ms": heartbeat.ping,
            "local_time": heartbeat.localDateTime or None,
        }
    )
    at = _iso(heartbeat.time)
    up = heartbeat.status == UP
    group_key, group_labels = group(labels)
    return Alert(
        source=SOURCE,
        fingerprint=stable_id("monitor", monitor_id),
        status=AlertStatus.RESOLVED if up else AlertStatus.FIRING,
        labels=labels,
        annotations=annotations,
        starts_at=_iso(heartbeat.lastDownTime) if up else at,
        ends_at=at if up else None,
        group_key=group_key,
        group_labels=group_labels,
    )


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate one notification into one alert; a message without heartbeat into none."""
    if payload.heartbeat is None:
        return []
    return [_alert(payload, payload.heartbeat, payload.monitor or Monitor())]
