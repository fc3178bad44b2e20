"""Durations (Prometheus syntax) and response times."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rules import ResponseWindow, format_duration, parse_duration
from rules.durations import parse_response_time

VALID = [
    ("2s", timedelta(seconds=2)),
    ("500ms", timedelta(milliseconds=500)),
    ("5m", timedelta(minutes=5)),
    ("1h", timedelta(hours=1)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("1d", timedelta(days=1)),
    ("2w", timedelta(weeks=2)),
    ("1y", timedelta(days=365)),
    ("1d2h3m4s5ms", timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
    ("90s", timedelta(seconds=90)),
    ("0h5m", timedelta(minutes=5)),
]

INVALID = [
    "",
    "5",  # no unit
    "5 m",  # no spaces
    "1m1h",  # largest unit first
    "1.5h",  # integers only
    "-1s",
    "1H",  # units are lower case
    "ms",
    "0s",  # must be positive
    "0",
    "5min",
    "business_day",
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", INVALID)
def test_invalid_names_the_value(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("text", [1, 2.5, None])
def test_non_strings_are_invalid(text: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["0", "0s", "0m0s"])
def test_zero_when_allowed(text: str) -> None:
    assert parse_duration(text, allow_zero=True) == timedelta(0)


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_format_reads_back(text: str, expected: timedelta) -> None:
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(milliseconds=1500), "1s500ms"),
        (timedelta(days=8), "1w1d"),
        (timedelta(0), "0s"),
    ],
)
def test_format(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


def test_format_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("business_day", ResponseWindow.BUSINESS_DAY),
        ("next_sprint", ResponseWindow.NEXT_SPRINT),
    ],
)
def test_response_time(text: str, expected: timedelta | ResponseWindow) -> None:
    assert parse_response_time(text) == expected


@pytest.mark.parametrize("text", ["business-day", "soon", "0s", "15 min"])
def test_invalid_response_time(text: str) -> None:
    with pytest.raises(ValueError, match="invalid response time") as caught:
        parse_response_time(text)
    assert repr(text) in str(caught.value)
