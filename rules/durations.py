"""Durations in Prometheus syntax, and the response times built on them.

A duration is one or more ``<integer><unit>`` parts, largest unit first, with
the units of Prometheus (``model.ParseDuration``): ``y`` (365 days), ``w``,
``d``, ``h``, ``m``, ``s``, ``ms``. Examples: ``500ms``, ``2s``, ``5m``,
``1h30m``, ``1d``. Durations in rule files must be positive; the one place that
accepts zero (an escalation step's ``after``) says so with ``allow_zero``.

A response time is a duration or one of the words ``business_day`` and
``next_sprint`` (the runbook's "within business day" and "next sprint").
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum

_UNITS: tuple[tuple[str, timedelta], ...] = (
    ("y", timedelta(days=365)),
    ("w", timedelta(weeks=1)),
    ("d", timedelta(days=1)),
    ("h", timedelta(hours=1)),
    ("m", timedelta(minutes=1)),
    ("s", timedelta(seconds=1)),
    ("ms", timedelta(milliseconds=1)),
)

_DURATION_RE = re.compile(
    r"(?:(?P<y>[0-9]+)y)?(?:(?P<w>[0-9]+)w)?(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?"
    r"(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?(?:(?P<ms>[0-9]+)ms)?",
    re.ASCII,
)

_HINT = "expected a duration such as 500ms, 2s, 5m, 1h30m or 1d"


class ResponseWindow(StrEnum):
    """Response times that are not a fixed duration."""

    BUSINESS_DAY = "business_day"
    NEXT_SPRINT = "next_sprint"


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """Parse a Prometheus duration.

    Args:
        text: The duration, e.g. ``"1h30m"``.
        allow_zero: Accept ``"0"`` (and ``"0s"`` ...) as a zero duration.

    Returns:
        The duration as a timedelta.

    Raises:
        ValueError: The text is not a duration, or is zero when that is not
            allowed. The message names the bad value.
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: {_HINT}")
    if text == "0":
        if allow_zero:
            return timedelta(0)
        raise ValueError(f"invalid duration {text!r}: must be positive")
    match = _DURATION_RE.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"invalid duration {text!r}: {_HINT}")
    total = timedelta(0)
    for unit, size in _UNITS:
        amount = match.group(unit)
        if amount is not None:
            total += int(amount) * size
    if total <= timedelta(0) and not (allow_zero and total == timedelta(0)):
        raise ValueError(f"invalid duration {text!r}: must be positive")
    return total


def format_duration(value: timedelta) -> str:
    """Render a timedelta in the syntax ``parse_duration`` reads.

    Args:
        value: A non-negative duration; anything below a millisecond is dropped.

    Returns:
        E.g. ``"1h30m"``; ``"0s"`` for zero.

    Raises:
        ValueError: The duration is negative.
    """
    if value < timedelta(0):
        raise ValueError(f"negative duration {value!r}")
    remaining = value // timedelta(milliseconds=1)
    parts: list[str] = []
    for unit, size in _UNITS:
        step = size // timedelta(milliseconds=1)
        count, remaining = divmod(remaining, step)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_response_time(text: str) -> timedelta | ResponseWindow:
    """Parse a severity's response time.

    Args:
        text: A duration (``"15m"``), ``"business_day"`` or ``"next_sprint"``.

    Returns:
        The duration, or the ResponseWindow.

    Raises:
        ValueError: Neither a positive duration nor one of the two words.
    """
    if isinstance(text, str) and text in ResponseWindow._value2member_map_:
        return ResponseWindow(text)
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(
            f"invalid response time {text!r}: expected a duration such as 15m or 1h, "
            "or business_day, or next_sprint"
        ) from None
