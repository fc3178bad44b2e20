"""Deliver one page to one channel: retry what is retryable, with capped backoff and
jitter, each attempt bounded by the channel's timeout, all within the step's budget."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from workers.channels.base import PermanentSendError, RetryableSendError

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 15.0


@dataclass(frozen=True)
class Delivery:
    sent: bool
    attempts: int
    detail: str
    permanent: bool = False  # refused with a 4xx: a misconfigured channel

    @property
    def retried(self) -> int:
        return self.attempts - 1


def backoff(attempt: int, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1-based): exponential, capped, jittered."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)


def deliver(
    send: Callable[[], str],
    budget_s: float,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Delivery:
    """Call ``send`` until it succeeds, fails permanently, or the budget is spent."""
    started = clock()
    attempts = 0
    while True:
        attempts += 1
        try:
            return Delivery(sent=True, attempts=attempts, detail=send())
        except PermanentSendError as exc:
            return Delivery(sent=False, attempts=attempts, detail=str(exc), permanent=True)
        except RetryableSendError as exc:
            detail = str(exc)
        delay = backoff(attempts, rng)
        if clock() - started + delay >= budget_s:
            return Delivery(
                sent=False,
                attempts=attempts,
                detail=f"{detail}; gave up after {attempts} attempts in {budget_s:g}s",
            )
        sleep(delay)
