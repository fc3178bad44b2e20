"""What triaged received, kept for ``triaged replay``, and the shadow rules' record.

The ingest script keeps every alert it stores new or changed (a new alert, a new
status, a new start; an alert re-sent unchanged is not kept again) with the
verdict of the rules that decided it (``rules.verdict``). One script run (the
POSTs a receiver process had in hand) adds one entry to a Redis stream
(``keys.received()``): ``n`` (how many alerts) and ``items``, a JSON list of
``[incident, source, fingerprint, status, labels, verdict]``. One entry per run
keeps the cost off the ingest path (one XADD, not one per alert). Each run then
drops a few of the oldest entries while they are older than the retention or the
stream holds more than ``max_entries`` alerts (counted in ``keys.received()
+ ":count"``).

With shadow rules, the script counts the alerts they classified, and appends
those whose shadow verdict differs to ``keys.shadow()`` (the newest
``SHADOW_KEPT``, one entry each: they are few).

Replay reads the stream with ``XRANGE`` only: it never writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
from pydantic import ValidationError

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
    """One alert as it came in, and the verdict given to it then."""

    at: datetime
    incident: str
    source: str
    fingerprint: str
    status: str
    labels: dict[str, str]
    verdict: Verdict


@dataclass(frozen=True)
class Disagreement:
    """One alert on which the shadow rules' verdict differed from the live one's."""

    at: datetime
    incident: str
    source: str
    labels: dict[str, str]
    live: Verdict
    shadow: Verdict


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_time(entry_id: str) -> datetime:
    return datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, UTC)


def parse_received(entry_id: Any, fields: dict[Any, Any]) -> list[Received]:
    """One stream entry of the received history as its alerts."""
    f = {_text(k): _text(v) for k, v in fields.items()}
    at = _entry_time(_text(entry_id))
    return [
        Received(at, incident, source, fp, status, labels, Verdict.model_validate(verdict))
        for incident, source, fp, status, labels, verdict in orjson.loads(f.get("items", "[]"))
    ]


def parse_disagreement(entry_id: Any, fields: dict[Any, Any]) -> Disagreement:
    """One entry of the shadow stream."""
    f = {_text(k): _text(v) for k, v in fields.items()}
    return Disagreement(
        at=_entry_time(_text(entry_id)),
        incident=f.get("incident", ""),
        source=f.get("source", ""),
        labels=StoredAlert.model_validate_json(f["alert"]).labels,
        live=Verdict.model_validate_json(f["verdict"]),
        shadow=Verdict.model_validate_json(f["shadow"]),
    )


class ReceivedLog:
    """Reads the received history; entries it cannot read are skipped and counted
    (``unreadable``), never fatal."""

    def __init__(self, client: redis.Redis, key: str | None = None, page: int = 100) -> None:
        self.client = client
        self.key = key or keys.received()
        self.page = page
        self.unreadable = 0

    def since(self, at: datetime) -> Iterator[Received]:
        """The alerts received at or after ``at``, oldest first (XRANGE, in pages)."""
        start = f"{int(at.timestamp() * 1000)}-0"
        while True:
            rows: list[tuple[Any, dict[Any, Any]]] = self.client.xrange(  # type: ignore[assignment]
                self.key, min=start, max="+", count=self.page
            )
            for entry_id, fields in rows:
                try:
                    yield from parse_received(entry_id, fields)
                except (ValueError, TypeError, KeyError, ValidationError):
                    self.unreadable += 1
            if len(rows) < self.page:
                return
            ms, seq = _text(rows[-1][0]).split("-")
            start = f"{ms}-{int(seq) + 1}"
