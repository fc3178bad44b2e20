"""Stable identities: an alert's fingerprint and the key that groups alerts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping


def fingerprint(labels: Mapping[str, str]) -> str:
    """Return a stable 16-hex-digit hash of the sorted label set."""
    text = "".join(f"{name}\xff{labels[name]}\xfe" for name in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def group_id(source: str, group_key: str) -> str:
    """Return the Redis-safe id of a group (a source's group key, hashed)."""
    return hashlib.sha256(f"{source}\x00{group_key}".encode()).hexdigest()[:24]


def label_group_key(labels: Mapping[str, str], by: tuple[str, ...]) -> str:
    """Build a group key from the grouping labels ``by`` (missing labels count as empty)."""
    return json.dumps([[k, labels.get(k, "")] for k in by], separators=(",", ":"))
