"""The SEV-4 digest's settings, published to Redis when a receiver starts, and its
next run put in the due set (workers send it: ``workers.jobs.digest``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from receiver.incidents import keys
from receiver.jobs import Kind, Work
from rules import RuleSet
from rules.calendar import next_digest


async def publish(redis: Any, ruleset: RuleSet, public_url: str) -> float | None:
    """Write the digest settings (contacts resolved: workers read no rule files) and
    schedule the next digest; None when the rules configure none."""
    digest = ruleset.digest
    if digest is None:
        await redis.delete(keys.digest_config())
        return None
    contacts = [ruleset.contact(name).model_dump(mode="json") for name in digest.notify]
    config = {
        "digest": digest.model_dump(mode="json"),
        "contacts": contacts,
        "public_url": public_url,
    }
    seconds, micros = await redis.time()
    now = datetime.fromtimestamp(float(seconds) + float(micros) / 1e6, UTC)
    due = next_digest(digest, now).timestamp()
    work = Work(Kind.DIGEST, "all", int(due))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.digest_config(), json.dumps(config))
        pipe.zadd(keys.due(), {work.member: due}, nx=True)
        pipe.zadd(keys.outbox(), {work.member: due})
        pipe.lpush(keys.wake(), "1")
        pipe.ltrim(keys.wake(), 0, 0)
        await pipe.execute()
    return due
