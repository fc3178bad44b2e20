"""What every sender adapter shares: label names and values, statuses, group keys.

The contract of an adapter module ``receiver/sources/<name>.py`` (pure: no I/O, no
settings, no clock):

- ``SOURCE = "<name>"`` (the URL segment of ``POST /api/v1/alerts/<name>``);
- ``class Payload(pydantic.BaseModel)``: the sender's documented body. Vendor bodies
  grow fields, so models ignore unknown fields (``extra="ignore"``) but type every
  field they read, with bounded lengths;
- ``def to_alerts(payload: Payload) -> list[Alert]``: one ``Alert`` per alert the
  body reports, its ``source`` set to ``SOURCE``. A body that validates but holds
  nothing to store (e.g. a test ping) returns ``[]`` (answered 202, stored nothing).

Every adapter documents, in its module docstring and in README's sender table: its
identity field (the ``fingerprint``), what counts as resolved, which labels it sets
(always ``alertname``; the sender's own severity or priority as ``severity`` /
``priority``, lowercased, for rules to match) and how alerts group into incidents.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from receiver.fingerprint import label_group_key

# bounds on what one alert may carry (a body beyond them is refused as 400/422)
MAX_LABELS = 256
MAX_NAME = 128
MAX_VALUE = 4096

_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")


def label_name(raw: str) -> str:
    """A sender's key as a label name rules can match (Prometheus style):
    ``Service Name`` -> ``service_name``, ``env:prod`` keys -> ``env_prod``.
    Lowercased; a leading digit gets ``_``; empty becomes ``_``."""
    name = _NOT_NAME.sub("_", raw.strip()).lower()[:MAX_NAME]
    if not name or name[0].isdigit():
        name = f"_{name}"
    return name


def label_value(value: Any) -> str | None:
    """A sender's value as label text: strings as they are, numbers and booleans
    as JSON writes them, objects and lists as compact JSON; ``None`` stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int) and not -(2**63) <= value < 2**64:
        text = str(value)  # past what orjson writes (JSON bodies never hold these)
    elif isinstance(value, int | float):
        text = orjson.dumps(value).decode()
    else:
        try:
            text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):  # nested too deep, huge numbers
            text = repr(value)[:MAX_VALUE]
    return text[:MAX_VALUE]


def labels_from(pairs: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> dict[str, str]:
    """Labels from a sender's key/value pairs: names normalized (``label_name``),
    values as text (``label_value``), ``None`` values dropped, the first of two
    keys that normalize alike kept, at most MAX_LABELS."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    out: dict[str, str] = {}
    for key, value in items:
        text = label_value(value)
        if text is None:
            continue
        name = label_name(str(key))
        if name not in out:
            out[name] = text
        if len(out) >= MAX_LABELS:
            break
    return out


def merge(*parts: Mapping[str, str]) -> dict[str, str]:
    """Merge label dicts; an earlier part wins (put the adapter's own labels first,
    the sender's free-form tags last, so tags cannot overwrite alertname)."""
    out: dict[str, str] = {}
    for part in parts:
        for k, v in part.items():
            out.setdefault(k, v)
    return out


def text(value: Any) -> str | None:
    """A sender's value as text, stripped; empty or blank counts as absent (None)."""
    found = label_value(value)
    return (found.strip() or None) if found is not None else None


def http_url(*candidates: str | None) -> str | None:
    """The first candidate that is an http(s) URL (a link shown to responders, never
    fetched), else None."""
    for url in candidates:
        if url and url.startswith(("https://", "http://")):
            return url
    return None


def lower(value: Any) -> str | None:
    """A sender's severity / priority as a label value: lowercased text."""
    text = label_value(value)
    return text.strip().lower() if text is not None else None


def stable_id(*parts: Any) -> str:
    """A 16-hex-digit identity from the sender's stable fields (a fingerprint)."""
    raw = orjson.dumps([label_value(p) for p in parts])
    return hashlib.sha256(raw).hexdigest()[:16]


def group(
    labels: Mapping[str, str], by: tuple[str, ...] = ("alertname", "service")
) -> tuple[str, dict[str, str]]:
    """The default grouping: alerts with equal ``by`` labels are one incident.
    Returns ``(group_key, group_labels)`` for ``Alert``."""
    return label_group_key(labels, by), {k: labels[k] for k in by if k in labels}
