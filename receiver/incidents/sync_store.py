"""IncidentStore: the workers' view of the incident records (synchronous redis-py).

Same keys and codec as the receiver's AsyncIncidentStore.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis import Redis

from receiver.incidents import keys
from receiver.incidents.codec import (
    alerts_from_hash,
    incident_from_hash,
    timeline_entry,
    timeline_from_list,
)
from receiver.model import Incident, StoredAlert, TimelineEntry

SENT_TTL_SECONDS = 30 * 24 * 3600


class IncidentStore:
    """Incident records in Redis, for RQ jobs. ``redis`` must decode responses."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def get(self, incident_id: str) -> Incident | None:
        h = self.redis.hgetall(keys.incident(incident_id))
        return incident_from_hash(h) if h else None  # type: ignore[arg-type]

    def alerts(self, incident_id: str) -> list[StoredAlert]:
        """The incident's alerts, oldest received first."""
        raw = self.redis.hgetall(keys.alerts(incident_id))
        return alerts_from_hash(raw)  # type: ignore[arg-type]

    def timeline(self, incident_id: str) -> list[TimelineEntry]:
        """The incident's timeline, oldest first."""
        raw = self.redis.lrange(keys.timeline(incident_id), 0, -1)
        return timeline_from_list(raw)  # type: ignore[arg-type]

    def created_ts(self, incident_id: str) -> float:
        raw = self.redis.hget(keys.incident(incident_id), "created_ts")
        return float(raw) if raw else 0.0  # type: ignore[arg-type]

    def record(
        self,
        incident_id: str,
        kind: str,
        detail: str,
        now: datetime,
        stats: Sequence[tuple[str, float]] = (),
        **data: Any,
    ) -> None:
        """Append a timeline entry and add to counters, in one round trip."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(keys.timeline(incident_id), timeline_entry(kind, detail, now, **data))
        _count(pipe, stats)
        pipe.execute()

    def regrade(
        self,
        incident_id: str,
        generation: int,
        severity: str,
        rank: int,
        decision_json: str,
        detail: str,
        now: datetime,
    ) -> int | None:
        """Give an open incident of ``generation`` a new severity and decision, as the
        next generation (its escalation starts again); None when it moved on (another
        generation, acknowledged, resolved)."""
        key = keys.incident(incident_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.watch(key)
            current, status = pipe.hmget(key, "generation", "status")
            if current is None or int(current) != generation or status != "open":
                pipe.unwatch()
                return None
            pipe.multi()
            pipe.hset(
                key,
                mapping={
                    "severity": severity,
                    "rank": rank,
                    "decision": decision_json,
                    "generation": generation + 1,
                    "updated_at": now.isoformat(),
                },
            )
            pipe.rpush(keys.timeline(incident_id), timeline_entry("severity_regraded", detail, now))
            pipe.execute()
        return generation + 1

    def add_stats(self, stats: Sequence[tuple[str, float]]) -> None:
        if not stats:
            return
        pipe = self.redis.pipeline(transaction=False)
        _count(pipe, stats)
        pipe.execute()

    def record_probe(self, incident_id: str, result: dict[str, Any]) -> None:
        self.redis.hset(keys.diagnosis(incident_id), str(result["name"]), json.dumps(result))

    def diagnosis(self, incident_id: str) -> dict[str, dict[str, Any]]:
        """Probe name -> latest result, for the probes that have finished."""
        raw = self.redis.hgetall(keys.diagnosis(incident_id))
        return {str(k): json.loads(v) for k, v in raw.items()}  # type: ignore[union-attr]

    def claim_page(self, idempotency_key: str, owner: str, hold_seconds: int) -> bool:
        """Claim the right to send one page; False when it is sent or another job holds it.

        ``owner`` is the work item (``receiver.jobs.Work.member``): a re-drive or
        retry of the same step (its worker was killed mid-send) takes the claim
        over and sends again with the same Idempotency-Key, so the receiving end
        can drop the repeat. Two jobs never run one step at once (its lease).
        """
        key = keys.page_claim(idempotency_key)
        mine = f"sending:{owner}"
        if self.redis.set(key, mine, nx=True, ex=hold_seconds):
            return True
        if self.redis.get(key) == mine:
            self.redis.expire(key, hold_seconds)
            return True
        return False

    def finish_page(self, idempotency_key: str, outcome: str) -> None:
        """Mark a claimed page 'sent' or 'failed' (either way: never sent again)."""
        self.redis.set(keys.page_claim(idempotency_key), outcome, ex=SENT_TTL_SECONDS)

    def mark_first_page(self, incident_id: str, now: datetime) -> bool:
        """Record the first page's time; True only for the call that set it."""
        return bool(self.redis.hsetnx(keys.incident(incident_id), "first_page_at", now.isoformat()))


def _count(pipe: Any, stats: Sequence[tuple[str, float]]) -> None:
    """Queue the counter increments (receiver.stats) on ``pipe``."""
    for name, amount in stats:
        pipe.hincrbyfloat(keys.stats(), name, amount)
