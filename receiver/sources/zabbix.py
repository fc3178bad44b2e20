"""Zabbix, through a Webhook media type that POSTs triaged's documented body.

Zabbix has no fixed webhook body: a Webhook media type runs a JavaScript script
with the parameters the admin configures (macros resolved, every value a string).
triaged documents the body below; the script builds it from the parameters.

Setup (Alerts > Media types > Create media type, Type: Webhook):

Parameters (name = value)::

    URL                       = https://triaged.example/api/v1/alerts/zabbix
    event_id                  = {EVENT.ID}
    event_value               = {EVENT.VALUE}
    event_update_status       = {EVENT.UPDATE.STATUS}
    event_update_action       = {EVENT.UPDATE.ACTION}
    event_update_message      = {EVENT.UPDATE.MESSAGE}
    event_name                = {EVENT.NAME}
    event_severity            = {EVENT.SEVERITY}
    event_nseverity           = {EVENT.NSEVERITY}
    event_opdata              = {EVENT.OPDATA}
    event_tags                = {EVENT.TAGSJSON}
    event_timestamp           = {EVENT.TIMESTAMP}
    event_date                = {EVENT.DATE}
    event_time                = {EVENT.TIME}
    event_ack_status          = {EVENT.ACK.STATUS}
    event_recovery_id         = {EVENT.RECOVERY.ID}
    event_recovery_timestamp  = {EVENT.RECOVERY.TIMESTAMP}
    event_recovery_date       = {EVENT.RECOVERY.DATE}
    event_recovery_time       = {EVENT.RECOVERY.TIME}
    event_url = {$ZABBIX.URL}/tr_events.php?triggerid={TRIGGER.ID}&eventid={EVENT.ID}
    host_name                 = {HOST.NAME}
    host_host                 = {HOST.HOST}
    host_ip                   = {HOST.IP}
    trigger_id                = {TRIGGER.ID}
    trigger_description       = {TRIGGER.DESCRIPTION}

Script (drops macros Zabbix left unresolved, e.g. {EVENT.RECOVERY.ID} in a
problem message, and sends the tags as a JSON list)::

    var params = JSON.parse(value), body = {}, req = new HttpRequest();
    Object.keys(params).forEach(function (key) {
        var v = params[key];
        if (key === 'URL' || key === 'HTTPProxy') { return; }
        if (typeof v === 'string' && /^\\{[A-Z0-9_.$:]+\\}$/.test(v)) { return; }
        body[key] = v;
    });
    if (typeof body.event_tags === 'string') {
        try { body.event_tags = JSON.parse(body.event_tags); } catch (e) { body.event_tags = []; }
    }
    if (params.HTTPProxy) { req.setProxy(params.HTTPProxy); }
    req.addHeader('Content-Type: application/json');
    var resp = req.post(params.URL, JSON.stringify(body));
    if (req.getStatus() < 200 || req.getStatus() >= 300) {
        throw 'triaged answered ' + req.getStatus() + ': ' + resp;
    }
    return 'OK';

Then give a user this media type and a trigger action with Problem, Recovery and
Update operations sending to it (the message templates are not used).

Body: the parameters above as JSON keys (``URL`` removed). Numeric macros may come
as strings (as Zabbix resolves them) or numbers; ``event_tags`` as the list of
``{"tag", "value"}`` objects (or the JSON text of it). Required: ``event_id``,
``event_value``, ``event_name``.

Identity: ``event_id``. In recovery and update messages ``{EVENT.ID}`` is still the
original problem's id (the recovery event's own id is ``{EVENT.RECOVERY.ID}``), so a
problem, its updates and its recovery share one fingerprint.

Status: ``event_value`` 0 (recovery) is resolved. ``event_value`` 1 with
``event_update_status`` 0 is a new problem (firing, ``state=problem``); with
``event_update_status`` 1 it is an update (acknowledge, comment, severity change)
and stays firing with ``state=acknowledged`` (the update acknowledged it, or
``event_ack_status`` is Yes) or ``state=updated``. An update whose action says the
problem was ``closed`` (manual close) is resolved (``state=closed``); the recovery
message Zabbix sends next resolves it again, harmlessly.

Labels: ``alertname`` (the event name), ``severity`` (the severity name lowercased:
not classified, information, warning, average, high, disaster; taken from
``event_nseverity`` when given, since admins may rename severities, else from
``event_severity``), ``service`` (the event's ``service`` tag, else the host's
visible name), ``host``, ``trigger_id``, ``state``, ``acknowledged`` (yes/no), then
the event tags (``{tag: value}``, names normalized) merged last.

Annotations: ``summary`` (event name and host), ``description`` (trigger
description), ``opdata``, ``update_action`` / ``update_message`` on updates,
``event_id`` / ``recovery_event_id``. ``generator_url`` is ``event_url``.

Grouping: ``common.group`` (alertname + service). Times: ``event_timestamp`` /
``event_recovery_timestamp`` as UTC ISO-8601, else ``event_date``/``event_time``
as a local time without offset (Zabbix server's time zone).

Docs:
- https://www.zabbix.com/documentation/current/en/manual/config/notifications/media/webhook
- https://www.zabbix.com/documentation/current/en/manual/appendix/macros/supported_by_location
  (macro details: EVENT.VALUE, EVENT.UPDATE.STATUS, EVENT.TAGSJSON, EVENT.NSEVERITY)
- https://www.zabbix.com/documentation/current/en/manual/api/reference/event/object
- Zabbix's own webhook media types, e.g. templates/media/opsgenie/media_opsgenie.yaml
  in https://git.zabbix.com/projects/ZBX/repos/zabbix (same parameters and macros)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

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

SOURCE = "zabbix"

# {EVENT.NSEVERITY} -> the default severity names, lowercased
SEVERITIES = ("not classified", "information", "warning", "average", "high", "disaster")

_Int = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]  # what label_value can write
_Id = Annotated[StrictStr, Field(pattern=r"^[0-9]{1,20}$")] | _Int
_Flag = Literal["0", "1"] | Annotated[StrictInt, Field(ge=0, le=1)]  # StrictInt: no bools
_Severity = (
    Annotated[StrictStr, Field(pattern=r"^[0-5]$")] | Annotated[StrictInt, Field(ge=0, le=5)]
)
# values only shown or converted leniently (a macro Zabbix left unresolved is ignored)
_Loose = Annotated[StrictStr, Field(max_length=64)] | _Int
_Short = Annotated[StrictStr, Field(max_length=256)]
_Text = Annotated[StrictStr, Field(max_length=MAX_VALUE)]
_Url = Annotated[StrictStr, Field(max_length=4096)]
_MAX_UNIX = 253_402_300_799  # 9999-12-31T23:59:59Z


class ZabbixTag(BaseModel):
    """One event tag object, as ``{EVENT.TAGSJSON}`` lists them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tag: StrictStr = Field(min_length=1, max_length=256)
    value: StrictStr = Field(default="", max_length=MAX_VALUE)


class Payload(BaseModel):
    """triaged's documented Zabbix body (keys named after the macros)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: _Id
    event_value: _Flag
    event_update_status: _Flag = "0"
    event_update_action: _Short | None = None
    event_update_message: _Text | None = None
    event_name: StrictStr = Field(min_length=1, max_length=2048)
    event_severity: _Short | None = None
    event_nseverity: _Severity | None = None
    event_opdata: _Text | None = None
    event_tags: list[ZabbixTag] = Field(default_factory=list, max_length=MAX_LABELS)
    event_timestamp: _Loose | None = None
    event_date: _Short | None = None
    event_time: _Short | None = None
    event_ack_status: _Short | None = None
    event_recovery_id: _Loose | None = None
    event_recovery_timestamp: _Loose | None = None
    event_recovery_date: _Short | None = None
    event_recovery_time: _Short | None = None
    event_url: _Url | None = None
    host_name: _Short | None = None
    host_host: _Short | None = None
    host_ip: _Short | None = None
    trigger_id: _Loose | None = None
    trigger_description: _Text | None = None

    @field_validator("event_tags", mode="before")
    @classmethod
    def _tags_from_json_text(cls, value: Any) -> Any:
        """Accept ``{EVENT.TAGSJSON}`` as sent unparsed: the JSON text of the list."""
        if isinstance(value, str):
            if len(value) > 64 * 1024:
                raise ValueError("event_tags text is too long")
            return orjson.loads(value) if value.strip() else []
        return value


_WORDS = re.compile(r"[a-z]+")


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate one Zabbix notification (problem, update or recovery) into one alert."""
    status, state = _status(payload)
    tags = labels_from((t.tag, t.value) for t in payload.event_tags)
    host = _text(payload.host_name)
    ack = lower(_text(payload.event_ack_status))
    own = {
        k: v
        for k, v in {
            "alertname": payload.event_name,
            "severity": _severity(payload),
            "service": tags.get("service") or host,
            "host": host,
            "trigger_id": label_value(payload.trigger_id),
            "state": state,
            "acknowledged": ack,
        }.items()
        if v
    }
    labels = merge(own, tags)
    group_key, group_labels = group(labels)
    resolved = status is AlertStatus.RESOLVED
    return [
        Alert(
            source=SOURCE,
            fingerprint=stable_id(SOURCE, payload.event_id),
            status=status,
            labels=labels,
            annotations=_annotations(payload, host, state),
            starts_at=_when(payload.event_timestamp, payload.event_date, payload.event_time),
            ends_at=_when(
                payload.event_recovery_timestamp,
                payload.event_recovery_date,
                payload.event_recovery_time,
            )
            if resolved
            else None,
            generator_url=_text(payload.event_url),
            group_key=group_key,
            group_labels=group_labels,
        )
    ]


def _status(payload: Payload) -> tuple[AlertStatus, str]:
    if str(payload.event_value) == "0":
        return AlertStatus.RESOLVED, "resolved"
    if str(payload.event_update_status) == "0":
        return AlertStatus.FIRING, "problem"
    words = set(_WORDS.findall((payload.event_update_action or "").lower()))
    if "closed" in words:
        return AlertStatus.RESOLVED, "closed"
    acked = "acknowledged" in words or lower(payload.event_ack_status) == "yes"
    if "unacknowledged" in words:
        acked = False
    return AlertStatus.FIRING, "acknowledged" if acked else "updated"


def _severity(payload: Payload) -> str | None:
    if payload.event_nseverity is not None:
        return SEVERITIES[int(payload.event_nseverity)]
    return lower(_text(payload.event_severity))


def _annotations(payload: Payload, host: str | None, state: str) -> dict[str, str]:
    summary = f"{payload.event_name} on {host}" if host else payload.event_name
    notes = {
        "summary": summary,
        "description": _text(payload.trigger_description),
        "opdata": _text(payload.event_opdata),
        "event_id": label_value(payload.event_id),
        "recovery_event_id": _digits(payload.event_recovery_id),
    }
    if str(payload.event_update_status) == "1":
        notes["update_action"] = _text(payload.event_update_action)
        notes["update_message"] = _text(payload.event_update_message)
    return {k: v[:MAX_VALUE] for k, v in notes.items() if v}


def _text(value: str | None) -> str | None:
    """Sender text, or None when empty or blank."""
    return value if value is not None and value.strip() else None


def _digits(value: str | int | None) -> str | None:
    text = label_value(value)
    return text if text is not None and text.isascii() and text.isdigit() else None


def _when(timestamp: str | int | None, date: str | None, time: str | None) -> str | None:
    """ISO-8601 from a UNIX timestamp (UTC), else from Zabbix's date and time."""
    digits = _digits(timestamp)
    if digits is not None and len(digits) <= 12 and int(digits) <= _MAX_UNIX:
        return datetime.fromtimestamp(int(digits), UTC).isoformat()
    try:
        local = datetime.strptime(f"{date} {time}", "%Y.%m.%d %H:%M:%S")
    except ValueError:
        return None
    return local.isoformat()
