"""What triaged received, kept for ``triaged replay``, and the shadow rules' record.

The ingest script appends one entry to a Redis stream (``keys.received()``) for
every alert it stores new or changed (a new alert, a new status, a new start):
the sender, the incident, the alert as stored, and the verdict of the rules that
decided (``rules.verdict``). An alert re-sent unchanged is not appended again.
Entries older than the retention are trimmed as new ones come (``XADD MINID ~``),
and the stream never holds many more than ``max_entries``.

With shadow rules, the script also appends the alerts whose shadow verdict differs
to ``keys.shadow()`` (the newest ``SHADOW_KEPT``) and counts them.

Replay reads the stream with ``XRANGE`` only: it never writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from receiver.incidents import keys
from receiver.model import StoredAlert
from rules.verdict import Verdict

SHADOW_KEPT = 10_000
"""Shadow disagreements kept (the newest); the counter counts them all."""


@dataclass(frozen=True)
class History:
    """How long the received alerts are kept (``TRIAGED_HISTORY_RETENTION``,
    ``TRIAGED_HISTORY_MAX``); a retention of 0 keeps none."""

    retention_s: float = 7 * 24 * 3600.0
    max_entries: int = 200_000

    def request(self) -> dict[str, float] | None:
        """The ``history`` of an ingest request: None when nothing is kept."""
        if self.retention_s <= 0 or self.max_entries <= 0:
            return None
        return {"retention": self.retention_s, "max": self.max_entries}


@dataclass(frozen=True)
class Received:
    """One stream entry: an alert as it came in, and what was decided for it."""

    entry_id: str
    at: datetime
    source: str
    incident: str
    alert: StoredAlert
    verdict: Verdict
    shadow: Verdict | None = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_entry(entry_id: Any, fields: dict[Any, Any]) -> Received:
    """A stream entry (id and fields, bytes or str) as a ``Received``."""
    f = {_text(k): _text(v) for k, v in fields.items()}
    eid = _text(entry_id)
    shadow = f.get("shadow")
    return Received(
        entry_id=eid,
        at=datetime.fromtimestamp(int(eid.split("-")[0]) / 1000, UTC),
        source=f.get("source", ""),
        incident=f.get("incident", ""),
        alert=StoredAlert.model_validate_json(f["alert"]),
        verdict=Verdict.model_validate_json(f["verdict"]),
        shadow=Verdict.model_validate_json(shadow) if shadow else None,
    )


def read_received(
    client: redis.Redis, since: datetime, page: int = 1000, key: str | None = None
) -> Iterator[Received]:
    """The entries received at or after ``since``, oldest first (XRANGE, in pages)."""
    stream = key or keys.received()
    start = f"{int(since.timestamp() * 1000)}-0"
    while True:
        rows: list[tuple[Any, dict[Any, Any]]] = client.xrange(  # type: ignore[assignment]
            stream, min=start, max="+", count=page
        )
        for entry_id, fields in rows:
            yield parse_entry(entry_id, fields)
        if len(rows) < page:
            return
        last = _text(rows[-1][0])
        ms, seq = last.split("-")
        start = f"{ms}-{int(seq) + 1}"
