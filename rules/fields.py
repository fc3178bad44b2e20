"""Field types of the rule-file format: durations, names, URLs, matcher strings.

Each is an ``Annotated`` type that validates what a YAML file holds and, where
the Python value differs from the text (durations), writes it back the way it
is read, so models round-trip through ``model_dump(mode="json")``. Errors are
``PydanticCustomError``s whose message is the whole reason, ready for a
``path:line:col: key.path: reason`` line.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, PlainValidator
from pydantic_core import PydanticCustomError

from rules.durations import (
    ResponseWindow,
    format_duration,
    parse_duration,
    parse_response_time,
)
from rules.errors import MatcherSyntaxError
from rules.matchers import parse_matchers


def invalid(kind: str, reason: str) -> PydanticCustomError:
    """Build a validation error whose message is exactly ``reason``."""
    return PydanticCustomError(kind, "{reason}", {"reason": reason})


def _to_duration(value: Any, *, allow_zero: bool) -> timedelta:
    if isinstance(value, timedelta):
        if value > timedelta(0) or (allow_zero and value == timedelta(0)):
            return value
        raise invalid("duration", f"invalid duration {value}: must be positive")
    if allow_zero and value == 0 and not isinstance(value, bool):
        return timedelta(0)
    try:
        return parse_duration(value, allow_zero=allow_zero)
    except ValueError as exc:
        raise invalid("duration", str(exc)) from None


def _to_response_time(value: Any) -> timedelta | ResponseWindow:
    if isinstance(value, timedelta | ResponseWindow):
        return value
    try:
        return parse_response_time(value)
    except ValueError as exc:
        raise invalid("response_time", str(exc)) from None


def _format_response_time(value: timedelta | ResponseWindow) -> str:
    return value.value if isinstance(value, ResponseWindow) else format_duration(value)


Duration = Annotated[
    timedelta,
    PlainValidator(lambda v: _to_duration(v, allow_zero=False)),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A positive Prometheus duration such as ``2s`` or ``1h30m``."""

Delay = Annotated[
    timedelta,
    PlainValidator(lambda v: _to_duration(v, allow_zero=True)),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A duration that may be zero (``0`` or absent: at once)."""

ResponseTime = Annotated[
    timedelta | ResponseWindow,
    PlainValidator(_to_response_time),
    PlainSerializer(_format_response_time, return_type=str, when_used="json"),
]
"""A duration, ``business_day`` or ``next_sprint``."""

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise invalid(
            "name",
            f"invalid name {value!r}: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit",
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]
"""The name of a rule, contact or probe."""


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or value != value.strip():
        raise invalid("url", f"expected an http:// or https:// URL, got {value!r}")
    return value


HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
"""An absolute http(s) URL, kept as written."""


def _check_matcher_text(value: str) -> str:
    try:
        parsed = parse_matchers(value)
    except MatcherSyntaxError as exc:
        raise invalid("matcher", str(exc)) from None
    if not parsed:
        raise invalid("matcher", 'empty matcher: write e.g. service="checkout"')
    return value


MatcherText = Annotated[str, AfterValidator(_check_matcher_text)]
"""An Alertmanager matcher (or a comma-separated list of them), checked at load."""


_HHMM_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_CLOCK_RE = re.compile(r"[0-9]{2}:[0-9]{2}")  # HH:MM text, whether a time of day or not


def check_time_of_day(value: Any) -> str:
    """Check a quoted ``"HH:MM"`` local time of day (rotations, silences, business hours).

    Raises:
        PydanticCustomError: Not such a time; an int says YAML read an unquoted
            ``9:00`` as a number (540).
    """
    if isinstance(value, str) and _HHMM_RE.fullmatch(value):
        return value
    if isinstance(value, str) and _CLOCK_RE.fullmatch(value):
        raise invalid("time", f"{value!r} is not a time of day: hours 00-23, minutes 00-59")
    hint = ""
    if isinstance(value, int) and not isinstance(value, bool):
        hint = " (YAML reads an unquoted 9:00 as a number: quote it)"
    raise invalid("time", f'expected a time "HH:MM" in quotes, got {value!r}{hint}')


TimeOfDay = Annotated[str, BeforeValidator(check_time_of_day)]
"""A local time of day, ``"HH:MM"`` in quotes."""


def _check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid("timezone", f"unknown time zone {value!r}") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_time_zone)]
"""An IANA time zone name (``Europe/Berlin``), checked at load."""
