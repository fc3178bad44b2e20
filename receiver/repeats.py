"""Repeats: a body seen before, byte for byte, answered without parsing it again.

Alertmanager re-sends an unchanged group byte-identical (every repeat_interval,
after a timeout, after a 5xx), and a storm of retries is mostly repeats. Ingesting
a byte-identical body again always ends the same way (every alert a duplicate: the
store's dedup is atomic in Redis and keyed on content), so each receiver process
remembers, for a few minutes, the bodies it stored and the incidents they went to.
A repeat costs one hash and one Redis round trip (the received counter, which also
makes a repeat get 503 when Redis is unreachable, like any post). This decides
nothing: a miss takes the full path, whose outcome is the same.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Seen:
    alerts: int
    incidents: tuple[tuple[str, int], ...]  # (incident id, generation) per group


class RepeatCache:
    """A bounded, expiring map from body digest to what storing it gave."""

    def __init__(self, max_entries: int = 10_000, ttl_s: float = 300.0) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[bytes, tuple[float, Seen]] = OrderedDict()

    @staticmethod
    def digest(source: str, body: bytes) -> bytes:
        return hashlib.blake2b(source.encode() + b"\0" + body, digest_size=16).digest()

    def get(self, key: bytes, now: float | None = None) -> Seen | None:
        found = self._entries.get(key)
        if found is None:
            return None
        stored_at, seen = found
        if (now if now is not None else time.monotonic()) - stored_at > self.ttl_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return seen

    def clear(self) -> None:
        """Forget every body (the rules changed: decide afresh)."""
        self._entries.clear()

    def put(self, key: bytes, seen: Seen, now: float | None = None) -> None:
        self._entries[key] = (now if now is not None else time.monotonic(), seen)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
