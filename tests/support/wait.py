"""Polling with a deadline: the only way tests wait for something to happen.

A bare ``time.sleep`` in a test either wastes time or flakes; ``wait_until``
returns as soon as the condition holds and fails with a message that says what
was awaited and for how long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    message: str = "",
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Args:
        predicate: called with no arguments; exceptions it raises propagate
            (wrap it yourself when an exception means "not yet").
        timeout: seconds from now after which to give up.
        interval: seconds between calls.
        message: what was awaited, for the failure message.

    Raises:
        AssertionError: when ``timeout`` passes without a truthy result; the
            message carries ``message``, the elapsed time and the last value.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        value = predicate()
        if value:
            return value
        now = time.monotonic()
        if now >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(
                f"timed out after {now - start:.2f}s (timeout {timeout}s) "
                f"waiting for: {what}; last value: {value!r}"
            )
        time.sleep(min(interval, max(0.0, deadline - now)))
