"""Alert bodies shaped exactly as their senders send them.

``alertmanager_payload`` builds Alertmanager's webhook body (``version`` "4"),
field for field as Alertmanager 0.25 serializes it. Sources, checked when this
was written:

- prometheus/alertmanager ``notify/webhook/webhook.go``: ``Message`` embeds
  ``*template.Data`` and adds ``version`` ("4"), ``groupKey`` and
  ``truncatedAlerts`` (alerts cut by ``max_alerts``; 0 by default). Encoded
  with Go's ``encoding/json``, so the key order is receiver, status, alerts,
  groupLabels, commonLabels, commonAnnotations, externalURL, version,
  groupKey, truncatedAlerts, and map keys come sorted.
- prometheus/alertmanager ``template/template.go`` (``Data``, ``Alert``):
  top-level ``status`` is "firing" while any alert fires, else "resolved";
  each alert has status, labels, annotations, startsAt, endsAt, generatorURL,
  fingerprint; ``commonLabels``/``commonAnnotations`` are the pairs shared by
  every alert; ``groupLabels`` are the route's ``group_by`` labels.
- prometheus/common ``model/signature.go`` + ``fingerprinting.go``: the
  fingerprint is FNV-1a 64 over the sorted label names and values, each
  followed by the separator byte 0xff, printed as 16 hex digits.
- Alertmanager docs, configuration.md ``<webhook_config>``; field notes:
  firing alerts carry ``"endsAt": "0001-01-01T00:00:00Z"`` (Go's zero time).
- ``groupKey`` is the route key and the group labels: ``{}:{alertname="X"}``
  for the root route (``dispatch.aggrGroup``; ``LabelSet.String()``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"
DEFAULT_EXTERNAL_URL = "http://127.0.0.1:9093"

_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_SEPARATOR = 0xFF


def encode_like_alertmanager(payload: Mapping[str, Any]) -> bytes:
    """The bytes Go's ``json.Encoder`` writes: compact, HTML-escaped, newline-terminated."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return (text + "\n").encode()


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's alert fingerprint of a label set (16 lowercase hex digits)."""
    h = _FNV64_OFFSET
    for name in sorted(labels):
        for chunk in (name.encode(), b"\xff", str(labels[name]).encode(), b"\xff"):
            for byte in chunk:
                h ^= byte
                h = (h * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def rfc3339(moment: datetime | str | None) -> str:
    """Format like Go's ``time.Time`` JSON (RFC 3339, trailing zeros of the fraction dropped)."""
    if moment is None:
        moment = datetime.now(UTC)
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.isoformat(timespec="microseconds")
    head, _, rest = text.partition(".")
    fraction, offset = rest[:6].rstrip("0"), rest[6:]
    if offset == "+00:00":
        offset = "Z"
    return f"{head}.{fraction}{offset}" if fraction else f"{head}{offset}"


def label_set_string(labels: Mapping[str, str]) -> str:
    """Prometheus ``LabelSet.String()``: ``{a="1", b="2"}`` sorted, values Go-%q-quoted."""
    return "{" + ", ".join(f"{k}={json.dumps(str(labels[k]))}" for k in sorted(labels)) + "}"


def group_key_for(group_labels: Mapping[str, str], route_key: str = "{}") -> str:
    """The ``groupKey`` Alertmanager sends for a group of the given route (root: ``{}``)."""
    return f"{route_key}:{label_set_string(group_labels)}"


def _group_labels_from_key(group_key: str) -> dict[str, str]:
    match = re.search(r":\{(.*)\}$", group_key)
    if not match:
        return {}
    return {
        k: json.loads(v) for k, v in re.findall(r'([A-Za-z_]\w*)=("(?:[^"\\]|\\.)*")', match[1])
    }


def _common(maps: list[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    common = dict(maps[0])
    for other in maps[1:]:
        common = {k: v for k, v in common.items() if other.get(k) == v}
    return dict(sorted(common.items()))


def am_alert(
    labels: Mapping[str, str],
    *,
    annotations: Mapping[str, str] | None = None,
    status: str | None = None,
    starts_at: datetime | str | None = None,
    ends_at: datetime | str | None = None,
    generator_url: str = "http://127.0.0.1:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
) -> dict[str, Any]:
    """One alert of the webhook body, as Alertmanager renders it.

    ``status`` defaults to "resolved" when ``ends_at`` is given and in the past,
    else "firing". A firing alert gets the zero ``endsAt``; a resolved one
    without ``ends_at`` ends now.
    """
    if status is None:
        status = "firing"
        if ends_at is not None:
            end = ends_at if isinstance(ends_at, datetime) else datetime.fromisoformat(ends_at)
            if end.tzinfo is None:
                end = end.replace(tzinfo=UTC)
            status = "resolved" if end <= datetime.now(UTC) else "firing"
    if status not in ("firing", "resolved"):
        raise ValueError(f"alert status must be firing or resolved, not {status!r}")
    if status == "firing" and ends_at is None:
        ends = ZERO_TIME
    else:
        ends = rfc3339(ends_at)
    return {
        "status": status,
        "labels": dict(sorted(labels.items())),
        "annotations": dict(sorted((annotations or {}).items())),
        "startsAt": rfc3339(starts_at),
        "endsAt": ends,
        "generatorURL": generator_url,
        "fingerprint": fingerprint(labels),
    }


def alertmanager_payload(
    alerts: Iterable[Mapping[str, Any]],
    *,
    group_key: str,
    receiver: str = "triaged",
    status: str | None = None,
    external_url: str = DEFAULT_EXTERNAL_URL,
    group_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The body of one Alertmanager webhook notification (version "4").

    Args:
        alerts: each either a full alert (as from ``am_alert``) or a mapping with
            at least ``labels`` and optionally ``annotations``, ``status``,
            ``startsAt``, ``endsAt``, ``generatorURL``; missing fields are filled
            in the way Alertmanager fills them.
        group_key: e.g. ``group_key_for({"alertname": "X"})``.
        receiver: the receiver name of the route.
        status: the top-level status; by default "firing" if any alert fires.
        external_url: Alertmanager's ``--web.external-url``.
        group_labels: by default parsed from an Alertmanager-shaped ``group_key``.
    """
    rendered = [
        am_alert(
            a["labels"],
            annotations=a.get("annotations"),
            status=a.get("status"),
            starts_at=a.get("startsAt"),
            ends_at=None if a.get("endsAt") in (None, ZERO_TIME) else a["endsAt"],
            **({"generator_url": a["generatorURL"]} if "generatorURL" in a else {}),
        )
        for a in alerts
    ]
    if status is None:
        status = "firing" if any(a["status"] == "firing" for a in rendered) else "resolved"
    if group_labels is None:
        group_labels = _group_labels_from_key(group_key)
    return {
        "receiver": receiver,
        "status": status,
        "alerts": rendered,
        "groupLabels": dict(sorted(group_labels.items())),
        "commonLabels": _common([a["labels"] for a in rendered]),
        "commonAnnotations": _common([a["annotations"] for a in rendered]),
        "externalURL": external_url,
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
    }
