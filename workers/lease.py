"""A lease: 'a live job is working on this member', renewed by a heartbeat thread.

When the job's process dies (SIGKILL, OOM, host lost), the lease expires within
``LEASE_TTL_S`` and the reconciler may re-drive the work.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import RedisError

from receiver.incidents import keys

LEASE_TTL_S = 15
HEARTBEAT_S = 5.0


@contextmanager
def lease(redis: Redis, member: str) -> Iterator[bool]:
    """Hold the lease on ``member`` while the block runs; yields False (and holds
    nothing) when another live job holds it."""
    key = keys.lease(member)
    token = uuid.uuid4().hex
    if not redis.set(key, token, nx=True, ex=LEASE_TTL_S):
        yield False
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                redis.set(key, token, xx=True, ex=LEASE_TTL_S)
            except RedisError:
                pass  # the lease lapses; the reconciler may re-drive, claims prevent twice

    thread = threading.Thread(target=beat, name=f"lease {member}", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join()
        try:
            if redis.get(key) == token:
                redis.delete(key)
        except RedisError:
            pass
