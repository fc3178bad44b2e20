"""A token bucket per source, per receiver process (no Redis round trip per post).

With N receiver processes a source may post N times its ``per_second`` in all: the
limit protects each process; set it per process. Over the limit the answer is 503
with ``Retry-After`` (never 429: Alertmanager does not retry a 429 within its
cycle), and nothing of the post was accepted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one token a post."""

    def __init__(
        self, rate: float, burst: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst if burst is not None else max(1, math.ceil(rate)))
        self.clock = clock
        self.tokens = self.burst
        self.at = clock()

    def take(self) -> float:
        """0 when a post may go ahead (and one token is spent); otherwise the
        seconds until the next token."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate
