"""AsyncIncidentStore: the receiver's view of the incident records (redis.asyncio).

Every Redis failure becomes ``StoreUnavailable``, which the API answers with 503.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from receiver.errors import IncidentNotFound, StoreUnavailable, TransitionRefused
from receiver.incidents import keys, scripts
from receiver.incidents.codec import (
    Classified,
    alerts_from_hash,
    incident_from_hash,
    ingest_request,
    timeline_from_list,
)
from receiver.incidents.history import History
from receiver.model import Incident, IncidentStatus, StoredAlert, TimelineEntry


@dataclass(frozen=True)
class IngestResult:
    """What happened to one group of a request."""

    incident_id: str
    result: str  # created | updated | raised | resolved | duplicate | ignored
    changed: int
    duplicates: int
    generation: int


@dataclass(frozen=True)
class IncidentDetail:
    incident: Incident
    alerts: list[StoredAlert]
    timeline: list[TimelineEntry]


# Every call is answered within this bound, whatever Redis does (stopped, paused,
# pool exhausted): senders get a 503 well before their own 10 s timeout.
STORE_DEADLINE_S = 4.0
# A counter never holds an answer for long.
STATS_DEADLINE_S = 0.5


@asynccontextmanager
async def _unavailable_on_error() -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(STORE_DEADLINE_S):
            yield
    except (RedisError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"incident store unavailable: {type(exc).__name__}") from exc


DEPLOY_RETENTION_S = 30 * 24 * 3600.0
DEPLOYS_KEPT = 1000


class IngestBatcher:
    """Group commit for the ingest script: the POSTs a receiver process has in hand
    go to Redis in one script run (each still atomic and in order), instead of one
    round trip and one script start each. With fewer than ``IN_FLIGHT`` runs out, a
    POST goes at once (after the current event-loop pass, which gathers its
    neighbours); otherwise the next POSTs gather and go together when a run returns.
    Bounded: at most ``MAX_POSTS`` POSTs or ``MAX_ARGS`` arguments per run."""

    MAX_POSTS = 64
    MAX_ARGS = 4000
    IN_FLIGHT = 2  # script runs at once per process: one gathers while one is out

    def __init__(self, script: AsyncScript) -> None:
        self._script = script
        self._waiting: list[tuple[list[str], asyncio.Future[Any]]] = []
        self._busy = 0
        self._scheduled = False

    async def submit(self, args: list[str]) -> Any:
        """Run one POST's ingest; its decoded result (a list of group rows)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((args, future))
        self._kick()
        return await future

    def _kick(self) -> None:
        if self._busy >= self.IN_FLIGHT or self._scheduled or not self._waiting:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        if self._busy >= self.IN_FLIGHT or not self._waiting:
            return
        batch, count = [], 0
        while self._waiting and len(batch) < self.MAX_POSTS:
            args, future = self._waiting[0]
            if batch and count + len(args) > self.MAX_ARGS:
                break
            self._waiting.pop(0)
            if future.cancelled():
                continue  # its caller gave up before it was sent: never stored
            batch.append((args, future))
            count += len(args)
        if not batch:
            self._kick()
            return
        self._busy += 1
        asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[list[str], asyncio.Future[Any]]]) -> None:
        try:
            await self._send(batch)
        finally:
            self._busy -= 1
            self._kick()

    async def _send(self, batch: list[tuple[list[str], asyncio.Future[Any]]]) -> None:
        frames = orjson.dumps([len(args) for args, _ in batch]).decode()
        try:
            raw = await self._script(args=[frames, *(a for args, _ in batch for a in args)])
            results = orjson.loads(raw)
        except ResponseError:
            if len(batch) > 1:
                # One POST the script refuses (a bug) must not fail its neighbours:
                # alone, each gets its own answer. Redis does not undo a script's
                # writes, so POSTs ahead of the failing one were stored already and
                # come back as duplicates of themselves (same incidents; idempotent).
                for item in batch:
                    await self._send([item])
                return
            raise_to(batch, sys.exc_info()[1])
        except BaseException as exc:  # every waiting caller hears of it
            raise_to(batch, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


def raise_to(batch: list[tuple[list[str], asyncio.Future[Any]]], exc: BaseException | None) -> None:
    for _, future in batch:
        if not future.done() and exc is not None:
            future.set_exception(exc)


class AsyncIncidentStore:
    """Incident records in Redis, for the asyncio receiver."""

    def __init__(self, redis: aioredis.Redis, history: History | None = None) -> None:
        self.redis = redis
        self.history = history if history is not None else History()
        self._ingest = IngestBatcher(redis.register_script(scripts.INGEST))
        self._transition = redis.register_script(scripts.TRANSITION)

    async def ingest(
        self, items: Sequence[Classified], source: str, now: datetime, truncated: int = 0
    ) -> list[IngestResult]:
        """Store classified alerts atomically; return what happened per group.
        ``truncated``: alerts the sender left out of this post (recorded, counted)."""
        args = ingest_request(items, source, now, truncated, self.history.request())
        async with _unavailable_on_error():
            decoded = await self._ingest.submit(args)
        rows = decoded if isinstance(decoded, list) else []  # cjson writes [] as {}
        return [
            IngestResult(
                incident_id=str(r["id"]),
                result=str(r["result"]),
                changed=int(r["changed"]),
                duplicates=int(r["duplicates"]),
                generation=int(r["generation"]),
            )
            for r in rows
        ]

    async def record_deploy(self, service: str, deploy: dict[str, Any], at: float) -> None:
        """Keep a deploy of ``service`` (30 days, at most the newest 1,000)."""
        key = keys.deploys(service)
        async with _unavailable_on_error():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {orjson.dumps(deploy).decode(): at})
                pipe.zremrangebyscore(key, "-inf", at - DEPLOY_RETENTION_S)
                pipe.zremrangebyrank(key, 0, -1 - DEPLOYS_KEPT)
                pipe.expire(key, int(DEPLOY_RETENTION_S))
                await pipe.execute()

    async def deploys(self, service: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest deploys of ``service``."""
        async with _unavailable_on_error():
            raw = await self.redis.zrevrange(keys.deploys(service), 0, limit - 1)
        return [orjson.loads(item) for item in raw]

    async def get(self, incident_id: str) -> IncidentDetail:
        """Return the incident with its alerts and timeline, or raise IncidentNotFound."""
        async with _unavailable_on_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.incident(incident_id))
                pipe.hgetall(keys.alerts(incident_id))
                pipe.lrange(keys.timeline(incident_id), 0, -1)
                h, alerts, timeline = await pipe.execute()
        if not h:
            raise IncidentNotFound(f"no incident {incident_id!r}", incident_id=incident_id)
        return IncidentDetail(
            incident=incident_from_hash(h),
            alerts=alerts_from_hash(alerts),
            timeline=timeline_from_list(timeline),
        )

    async def list(self, status: IncidentStatus | None, limit: int = 200) -> list[Incident]:
        """Return the newest incidents first, optionally only those with ``status``."""
        found: list[Incident] = []
        start = 0
        async with _unavailable_on_error():
            while len(found) < limit:
                ids = await self.redis.zrevrange(keys.incident_index(), start, start + 499)
                if not ids:
                    break
                start += len(ids)
                async with self.redis.pipeline(transaction=False) as pipe:
                    for incident_id in ids:
                        pipe.hgetall(keys.incident(incident_id))
                    hashes = await pipe.execute()
                for h in hashes:
                    if h and (status is None or h.get("status") == status.value):
                        found.append(incident_from_hash(h))
        return found[:limit]

    async def transition(
        self, incident_id: str, action: str, by: str, note: str, now: datetime
    ) -> None:
        """Acknowledge (``ack``) or resolve (``resolve``) an incident."""
        async with _unavailable_on_error():
            result = await self._transition(args=[incident_id, action, by, note, now.isoformat()])
        if result == "not_found":
            raise IncidentNotFound(f"no incident {incident_id!r}", incident_id=incident_id)
        if result != "ok":
            raise TransitionRefused(f"cannot {action} an incident that is {result}", status=result)

    async def add_stats(self, incs: Sequence[tuple[str, float]], required: bool = False) -> None:
        """Add to the shared counters; best effort (a counter never blocks an answer)
        unless ``required``, when Redis being unreachable is StoreUnavailable."""
        if required:
            async with _unavailable_on_error():
                await self._add(incs)
            return
        try:
            async with asyncio.timeout(STATS_DEADLINE_S):
                await self._add(incs)
        except (RedisError, OSError, TimeoutError):
            pass

    async def _add(self, incs: Sequence[tuple[str, float]]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, amount in incs:
                pipe.hincrbyfloat(keys.stats(), name, amount)
            await pipe.execute()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError, TimeoutError):
            return False
