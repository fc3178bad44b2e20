"""Silences and inhibitions, with fixed clocks.

Europe/Berlin changes clocks on 2026-03-29 (01:00 UTC: 02:00 CET -> 03:00 CEST)
and 2026-10-25 (01:00 UTC: 03:00 CEST -> 02:00 CET); America/New_York on
2026-03-08 (07:00 UTC: 02:00 EST -> 03:00 EDT) and 2026-11-01 (06:00 UTC:
02:00 EDT -> 01:00 EST). Every expected instant is written in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rules.silences import Inhibition, Silence, silence_matches, window_at

BERLIN = ZoneInfo("Europe/Berlin")
TICK = timedelta(microseconds=1)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def silence(**fields: Any) -> Silence:
    """A billing silence with ``fields`` added (give a window) or changed."""
    base: dict[str, Any] = {
        "name": "sunday-maintenance",
        "matchers": ['service = "billing"'],
        "comment": "weekly DB maintenance",
        "author": "sre-team",
    }
    return Silence.model_validate(base | fields)


def weekly(weekdays: list[str], start: str, end: str, timezone: str = "Europe/Berlin") -> Silence:
    every = {"weekdays": weekdays, "start": start, "end": end, "timezone": timezone}
    return silence(every=every)


def inhibition(**fields: Any) -> Inhibition:
    """SEV-1 holds SEV-2..4 of the same service, with ``fields`` changed."""
    base: dict[str, Any] = {
        "source": ['severity = "SEV-1"'],
        "target": ['severity =~ "SEV-[234]"'],
        "equal": ["service"],
    }
    return Inhibition.model_validate(base | fields)


# --- one-off windows ---------------------------------------------------------

ONE_OFF = silence(starts_at="2026-12-01T22:00:00Z", ends_at="2026-12-02T02:00:00Z")


@pytest.mark.parametrize(
    ("at", "active"),
    [
        (utc(2026, 12, 1, 22) - TICK, False),
        (utc(2026, 12, 1, 22), True),  # start inclusive
        (utc(2026, 12, 2, 1, 59), True),
        (utc(2026, 12, 2, 2) - TICK, True),
        (utc(2026, 12, 2, 2), False),  # end exclusive
    ],
)
def test_one_off_edges(at: datetime, active: bool) -> None:
    expected = (utc(2026, 12, 1, 22), utc(2026, 12, 2, 2)) if active else None
    assert window_at(ONE_OFF, at) == expected


def test_one_off_with_offsets_is_kept_in_utc() -> None:
    s = silence(starts_at="2026-12-01T23:00:00+01:00", ends_at="2026-12-02T03:00+01:00")
    assert s.starts_at == utc(2026, 12, 1, 22)
    assert s.starts_at is not None and s.starts_at.tzinfo is UTC
    # the instant is compared, whatever zone ``at`` is in
    assert window_at(s, datetime(2026, 12, 1, 23, 0, tzinfo=BERLIN)) == (
        utc(2026, 12, 1, 22),
        utc(2026, 12, 2, 2),
    )
    assert s.model_dump(mode="json")["starts_at"] == "2026-12-01T22:00:00Z"
    assert Silence.model_validate(s.model_dump(mode="json")) == s


def test_one_off_from_yaml_timestamps() -> None:
    doc = yaml.safe_load(
        """
        name: db-migration
        matchers: ['service = "billing"']
        comment: schema migration
        author: alice
        starts_at: 2026-12-01T22:00:00Z
        ends_at: 2026-12-02 03:00:00+01:00
        """
    )
    s = Silence.model_validate(doc)
    assert (s.starts_at, s.ends_at) == (utc(2026, 12, 1, 22), utc(2026, 12, 2, 2))


def test_naive_at_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        window_at(ONE_OFF, datetime(2026, 12, 1, 23))


# --- weekly windows across daylight-saving changes ---------------------------

SUNDAY_BERLIN = weekly(["sun"], "02:00", "04:00")


@pytest.mark.parametrize(
    ("at", "start", "end"),
    [
        # winter, CET: 02:00-04:00 local is 01:00-03:00 UTC
        (utc(2026, 3, 22, 1), utc(2026, 3, 22, 1), utc(2026, 3, 22, 3)),
        (utc(2026, 3, 22, 3) - TICK, utc(2026, 3, 22, 1), utc(2026, 3, 22, 3)),
        # spring forward: 02:00 does not exist, read with the CET offset (01:00 UTC,
        # the jump to 03:00 CEST); 04:00 CEST is 02:00 UTC: one real hour
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),
        (utc(2026, 3, 29, 2) - TICK, utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),
        # summer, CEST: 00:00-02:00 UTC
        (utc(2026, 4, 5, 0), utc(2026, 4, 5, 0), utc(2026, 4, 5, 2)),
        # fall back: 02:00 is its first occurrence (CEST, 00:00 UTC); 04:00 CET is
        # 03:00 UTC: three real hours
        (utc(2026, 10, 25, 0), utc(2026, 10, 25, 0), utc(2026, 10, 25, 3)),
        (utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 0), utc(2026, 10, 25, 3)),
        (utc(2026, 10, 25, 3) - TICK, utc(2026, 10, 25, 0), utc(2026, 10, 25, 3)),
        # winter again
        (utc(2026, 11, 1, 2), utc(2026, 11, 1, 1), utc(2026, 11, 1, 3)),
    ],
)
def test_weekly_berlin_across_dst(at: datetime, start: datetime, end: datetime) -> None:
    assert window_at(SUNDAY_BERLIN, at) == (start, end)


@pytest.mark.parametrize(
    "at",
    [
        utc(2026, 3, 22, 1) - TICK,
        utc(2026, 3, 22, 3),
        utc(2026, 3, 29, 1) - TICK,  # 01:59:59 CET
        utc(2026, 3, 29, 2),  # 04:00 CEST
        utc(2026, 4, 5, 0) - TICK,
        utc(2026, 4, 5, 2),
        utc(2026, 10, 25, 0) - TICK,
        utc(2026, 10, 25, 3),  # 04:00 CET
        utc(2026, 3, 28, 1, 30),  # a Saturday
        utc(2026, 3, 30, 1, 30),  # a Monday
    ],
)
def test_weekly_berlin_outside(at: datetime) -> None:
    assert window_at(SUNDAY_BERLIN, at) is None


def test_a_window_inside_the_gap_moves_with_it() -> None:
    # 02:15 and 02:45 do not exist; read with the CET offset they are 03:15-03:45 CEST
    s = weekly(["sun"], "02:15", "02:45")
    window = (utc(2026, 3, 29, 1, 15), utc(2026, 3, 29, 1, 45))
    assert window_at(s, utc(2026, 3, 29, 1, 15)) == window
    assert window_at(s, utc(2026, 3, 29, 1, 45)) is None
    assert window_at(s, utc(2026, 3, 29, 0, 15)) is None


def test_a_window_that_ends_before_it_starts_that_night_is_never_active() -> None:
    # 02:30 CET is 01:30 UTC, 03:00 CEST is 01:00 UTC: nothing to silence that night
    s = weekly(["sun"], "02:30", "03:00")
    for minutes in range(0, 4 * 60, 5):  # 00:00-04:00 UTC on the spring-forward day
        assert window_at(s, utc(2026, 3, 29, 0) + timedelta(minutes=minutes)) is None
    # the week after, it is back: 02:30-03:00 CEST
    assert window_at(s, utc(2026, 4, 5, 0, 45)) == (utc(2026, 4, 5, 0, 30), utc(2026, 4, 5, 1))


def test_window_starting_in_the_gap_starts_at_the_jump() -> None:
    # 02:30 is read as 02:30 CET = 03:30 CEST; the window runs to 05:00 CEST
    s = weekly(["sun"], "02:30", "05:00")
    assert window_at(s, utc(2026, 3, 29, 2)) == (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 3))


@pytest.mark.parametrize(
    ("at", "start", "end"),
    [
        # Sunday 23:00 CET -> Monday 01:00 CET
        (utc(2026, 3, 1, 22), utc(2026, 3, 1, 22), utc(2026, 3, 2, 0)),
        (utc(2026, 3, 1, 23, 30), utc(2026, 3, 1, 22), utc(2026, 3, 2, 0)),  # Monday 00:30 local
        (utc(2026, 3, 2, 0) - TICK, utc(2026, 3, 1, 22), utc(2026, 3, 2, 0)),
        # in summer: Sunday 23:00 CEST -> Monday 01:00 CEST
        (utc(2026, 7, 5, 21), utc(2026, 7, 5, 21), utc(2026, 7, 5, 23)),
        # the night the clocks go back (Sat 24 Oct 23:00 CEST -> Sun 01:00 CEST) is
        # not a Sunday start; the Sunday night after is in CET
        (utc(2026, 10, 25, 22, 30), utc(2026, 10, 25, 22), utc(2026, 10, 26, 0)),
    ],
)
def test_crossing_midnight(at: datetime, start: datetime, end: datetime) -> None:
    assert window_at(weekly(["sun"], "23:00", "01:00"), at) == (start, end)


@pytest.mark.parametrize(
    "at",
    [
        utc(2026, 3, 1, 22) - TICK,  # Sunday 22:59:59 local
        utc(2026, 3, 2, 0),  # Monday 01:00 local
        utc(2026, 3, 2, 22, 30),  # Monday 23:30 local: Monday is not listed
        utc(2026, 2, 28, 23, 30),  # Sunday 00:30 local: Saturday's window, not listed
    ],
)
def test_crossing_midnight_outside(at: datetime) -> None:
    assert window_at(weekly(["sun"], "23:00", "01:00"), at) is None


def test_crossing_midnight_into_spring_forward() -> None:
    # Saturday 23:00 CET (22:00 UTC) -> Sunday 03:00 CEST (01:00 UTC): 3 real hours
    s = weekly(["sat"], "23:00", "03:00")
    window = (utc(2026, 3, 28, 22), utc(2026, 3, 29, 1))
    assert window_at(s, utc(2026, 3, 29, 0, 59)) == window
    assert window_at(s, utc(2026, 3, 29, 1)) is None


def test_overlap_made_by_a_gap_returns_the_earlier_window() -> None:
    # Saturday's window ends at 02:30, read as 02:30 CET = 01:30 UTC; Sunday's starts
    # at 03:00 CEST = 01:00 UTC: both cover 01:00-01:30 UTC
    s = weekly(["sat", "sun"], "03:00", "02:30")
    saturday = (utc(2026, 3, 28, 2), utc(2026, 3, 29, 1, 30))
    sunday = (utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30))
    assert window_at(s, utc(2026, 3, 29, 1, 15)) == saturday
    assert window_at(s, utc(2026, 3, 29, 1, 30)) == sunday


def test_multiple_weekdays() -> None:
    s = weekly(["mon", "wed", "fri"], "09:00", "10:00", "UTC")
    # 2026-03-02 is a Monday
    for day, active in [(2, True), (3, False), (4, True), (5, False), (6, True), (7, False)]:
        window = (utc(2026, 3, day, 9), utc(2026, 3, day, 10))
        assert window_at(s, utc(2026, 3, day, 9, 30)) == (window if active else None), day
        assert window_at(s, utc(2026, 3, day, 10)) is None


@pytest.mark.parametrize(
    ("at", "window"),
    [
        # EST: Sunday 01:00-03:00 is 06:00-08:00 UTC
        (utc(2026, 3, 1, 7), (utc(2026, 3, 1, 6), utc(2026, 3, 1, 8))),
        # spring forward: 01:00 EST (06:00 UTC) to 03:00 EDT (07:00 UTC)
        (utc(2026, 3, 8, 6, 30), (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7))),
        (utc(2026, 3, 8, 7), None),
        # fall back: 01:00 first occurrence (EDT, 05:00 UTC) to 03:00 EST (08:00 UTC)
        (utc(2026, 11, 1, 5), (utc(2026, 11, 1, 5), utc(2026, 11, 1, 8))),
        (utc(2026, 11, 1, 6, 30), (utc(2026, 11, 1, 5), utc(2026, 11, 1, 8))),  # 01:30 EST
        (utc(2026, 11, 1, 8), None),
    ],
)
def test_new_york(at: datetime, window: tuple[datetime, datetime] | None) -> None:
    assert window_at(weekly(["sun"], "01:00", "03:00", "America/New_York"), at) == window


def test_new_york_friday_night() -> None:
    # Friday 22:00 EDT -> Saturday 06:00 EDT, looked up from a Berlin-zoned instant
    s = weekly(["fri"], "22:00", "06:00", "America/New_York")
    at = datetime(2026, 6, 6, 10, 0, tzinfo=BERLIN)  # 04:00 EDT on Saturday
    assert window_at(s, at) == (utc(2026, 6, 6, 2), utc(2026, 6, 6, 10))


_WINDOWED = [
    weekly(["sun"], "02:00", "04:00"),
    weekly(["sat", "sun"], "23:00", "01:00"),
    weekly(["mon", "tue", "wed", "thu", "fri"], "18:00", "08:00", "America/New_York"),
    weekly(["sun"], "02:30", "03:00"),
    weekly(["sun"], "02:15", "02:45"),
]


@settings(max_examples=300, deadline=None)
@given(which=st.sampled_from(_WINDOWED), minutes=st.integers(0, 366 * 24 * 60))
def test_window_contains_at_and_starts_on_a_listed_day(which: Silence, minutes: int) -> None:
    at = utc(2026, 1, 1, 0) + timedelta(minutes=minutes, seconds=17)
    window = window_at(which, at)
    if window is None:
        return
    start, end = window
    assert start <= at < end
    assert start.tzinfo is UTC and end.tzinfo is UTC
    assert which.every is not None
    local_start = start.astimezone(which.every.zone)
    assert DAYS[local_start.weekday()] in which.every.weekdays
    assert window_at(which, start) == window
    assert window_at(which, end - TICK) == window


# --- matchers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("matchers", "labels", "expected"),
    [
        (['service = "billing"'], {"service": "billing"}, True),
        (['service = "billing"'], {"service": "billing-api"}, False),
        (['service="billing"', 'env != "dev"'], {"service": "billing", "env": "prod"}, True),
        (['service="billing"', 'env != "dev"'], {"service": "billing", "env": "dev"}, False),
        (['service="billing"', 'env != "dev"'], {"service": "billing"}, True),  # absent = ""
        (['env =~ "prod|staging"'], {"env": "staging"}, True),
        (['env =~ "prod|staging"'], {"env": "preprod"}, False),  # anchored
        (['service="billing"', 'team !~ "db.*"'], {"service": "billing", "team": "dba"}, False),
        (['service="billing"', 'team !~ "db.*"'], {"service": "billing", "team": "web"}, True),
        (['service="billing", env="prod"'], {"service": "billing", "env": "prod"}, True),
        (['service="billing", env="prod"'], {"service": "billing", "env": "dev"}, False),
        (['service="billing"'], {}, False),
    ],
)
def test_silence_matches(matchers: list[str], labels: dict[str, str], expected: bool) -> None:
    s = silence(
        matchers=matchers,
        every={"weekdays": ["sun"], "start": "02:00", "end": "04:00", "timezone": "UTC"},
    )
    assert silence_matches(s, labels) is expected


# --- inhibitions ------------------------------------------------------------

SEV1_BILLING = {"severity": "SEV-1", "service": "billing"}


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        (SEV1_BILLING, {"severity": "SEV-3", "service": "billing"}, True),
        (SEV1_BILLING, {"severity": "SEV-2", "service": "billing", "env": "prod"}, True),
        (SEV1_BILLING, {"severity": "SEV-3", "service": "checkout"}, False),  # not equal
        (
            {"severity": "SEV-2", "service": "billing"},
            {"severity": "SEV-3", "service": "billing"},
            False,
        ),  # the source does not match
        (SEV1_BILLING, {"severity": "SEV-1", "service": "billing"}, False),  # nor the target
        (SEV1_BILLING, {"severity": "SEV-3"}, False),  # missing on the target
        (
            {"severity": "SEV-1"},
            {"severity": "SEV-3", "service": "billing"},
            False,
        ),  # on the source
        ({"severity": "SEV-1"}, {"severity": "SEV-3"}, False),  # missing on both: NOT equal
        ({"severity": "SEV-1", "service": ""}, {"severity": "SEV-3", "service": ""}, False),
    ],
)
def test_inhibits(source: dict[str, str], target: dict[str, str], expected: bool) -> None:
    assert inhibition().inhibits(source, target) is expected


def test_every_equal_label_must_be_equal() -> None:
    rule = inhibition(equal=["service", "cluster"])
    source = SEV1_BILLING | {"cluster": "eu-1"}
    assert rule.inhibits(source, {"severity": "SEV-2", "service": "billing", "cluster": "eu-1"})
    assert not rule.inhibits(source, {"severity": "SEV-2", "service": "billing", "cluster": "us-1"})
    assert not rule.inhibits(source, {"severity": "SEV-2", "service": "billing"})


def test_inhibition_matchers_use_all_operators() -> None:
    rule = inhibition(
        source=['alertname = "DatabaseDown"', 'env != "dev"'],
        target=['alertname !~ "Database.*"', 'severity =~ "SEV-[234]"'],
    )
    source = {"alertname": "DatabaseDown", "env": "prod", "service": "billing"}
    assert rule.inhibits(
        source, {"alertname": "HighLatency", "severity": "SEV-2", "service": "billing"}
    )
    assert not rule.inhibits(
        source, {"alertname": "DatabaseSlow", "severity": "SEV-2", "service": "billing"}
    )
    assert not rule.inhibits(
        source | {"env": "dev"},
        {"alertname": "HighLatency", "severity": "SEV-2", "service": "billing"},
    )


def test_no_mutual_inhibition_when_source_and_target_overlap() -> None:
    # SEV-2 matches both sides: it is held only by a source that is not a target
    rule = inhibition(source=['severity =~ "SEV-[12]"'], target=['severity =~ "SEV-[23]"'])
    sev1 = {"severity": "SEV-1", "service": "billing"}
    sev2 = {"severity": "SEV-2", "service": "billing"}
    sev3 = {"severity": "SEV-3", "service": "billing"}
    assert rule.inhibits(sev1, sev2)
    assert rule.inhibits(sev1, sev3)
    assert rule.inhibits(sev2, sev3)  # SEV-3 does not match the source side
    assert not rule.inhibits(sev2, sev2 | {"alertname": "other"})  # not each other
    assert not rule.inhibits(sev2, sev2)  # nor itself


# --- validation ---------------------------------------------------------------

SUNDAY = {"weekdays": ["sun"], "start": "02:00", "end": "04:00", "timezone": "Europe/Berlin"}
ONE_OFF_FIELDS = {"starts_at": "2026-12-01T22:00:00Z", "ends_at": "2026-12-02T02:00:00Z"}


def test_valid_recurring_from_yaml() -> None:
    doc = yaml.safe_load(
        """
        name: sunday-maintenance
        matchers: ['service = "billing"', 'env =~ "prod|staging"']
        comment: weekly DB maintenance
        author: sre-team
        every: {weekdays: [sun], start: "02:00", end: "04:00", timezone: Europe/Berlin}
        """
    )
    s = Silence.model_validate(doc)
    assert s.every is not None and s.every.weekdays == ["sun"]
    assert s.starts_at is None and s.ends_at is None
    assert Silence.model_validate(s.model_dump(mode="json")) == s


@pytest.mark.parametrize(
    ("fields", "loc", "message"),
    [
        ({}, (), "no window: give starts_at and ends_at (one-off) or every (recurring)"),
        (
            ONE_OFF_FIELDS | {"every": SUNDAY},
            (),
            "both a one-off window (starts_at/ends_at) and a recurring one (every)",
        ),
        (
            {"starts_at": "2026-12-01T22:00:00Z"},
            (),
            "starts_at without ends_at: a one-off window needs both",
        ),
        (
            {"ends_at": "2026-12-01T22:00:00Z", "every": SUNDAY},
            (),
            "both a one-off window",
        ),
        (
            {"starts_at": "2026-12-01T22:00:00Z", "ends_at": "2026-12-01T23:00:00+01:00"},
            ("ends_at",),
            "ends_at 2026-12-01T22:00:00Z is not after starts_at 2026-12-01T22:00:00Z",
        ),
        (
            {"starts_at": "2026-12-02T22:00:00Z", "ends_at": "2026-12-01T22:00:00Z"},
            ("ends_at",),
            "is not after starts_at",
        ),
        (
            {"starts_at": "2026-12-01T22:00:00", "ends_at": "2026-12-02T02:00:00Z"},
            ("starts_at",),
            "2026-12-01T22:00:00 has no time zone: add Z (UTC) or an offset such as +01:00",
        ),
        (
            {"starts_at": datetime(2026, 12, 1, 22), "ends_at": "2026-12-02T02:00:00Z"},
            ("starts_at",),
            "has no time zone",
        ),
        (
            {"starts_at": "2026-12-01", "ends_at": "2026-12-02T02:00:00Z"},
            ("starts_at",),
            "invalid time '2026-12-01': expected a date and time with a zone",
        ),
        (
            {"starts_at": "2026-13-01T22:00Z", "ends_at": "2026-12-02T02:00:00Z"},
            ("starts_at",),
            "invalid time '2026-13-01T22:00Z'",
        ),
        (
            {"starts_at": 1796162400, "ends_at": "2026-12-02T02:00:00Z"},
            ("starts_at",),
            "invalid time 1796162400",
        ),
        (
            {"every": SUNDAY | {"weekdays": []}},
            ("every", "weekdays"),
            "no weekdays: list at least one",
        ),
        (
            {"every": SUNDAY | {"weekdays": ["sunday"]}},
            ("every", "weekdays"),
            "unknown weekday 'sunday': expected one of mon, tue, wed, thu, fri, sat, sun",
        ),
        (
            {"every": SUNDAY | {"weekdays": ["sun", "mon", "sun"]}},
            ("every", "weekdays"),
            "duplicate weekday 'sun'",
        ),
        (
            {"every": SUNDAY | {"start": "2:00"}},
            ("every", "start"),
            "expected a time \"HH:MM\" in quotes, got '2:00'",
        ),
        (
            {"every": SUNDAY | {"end": 720}},  # YAML reads an unquoted 12:00 as 720
            ("every", "end"),
            'expected a time "HH:MM" in quotes, got 720 '
            "(YAML reads an unquoted 9:00 as a number: quote it)",
        ),
        (
            {"every": SUNDAY | {"end": "23:60"}},
            ("every", "end"),
            "'23:60' is not a time of day: hours 00-23, minutes 00-59",
        ),
        (
            {"every": SUNDAY, "matchers": ['service == "billing"']},
            ("matchers", 0),
            'invalid operator "==": use =, !=, =~ or !~: service == "billing"',
        ),
        (
            {"every": SUNDAY | {"end": "02:00"}},
            ("every", "end"),
            "start and end are both 02:00: a window needs a length",
        ),
        (
            {"every": SUNDAY | {"timezone": "Mars/Olympus"}},
            ("every", "timezone"),
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            {"every": {k: v for k, v in SUNDAY.items() if k != "timezone"}},
            ("every", "timezone"),
            "Field required",
        ),
        (
            {"every": SUNDAY | {"months": [1]}},
            ("every", "months"),
            "Extra inputs are not permitted",
        ),
        ({"every": SUNDAY, "matchers": []}, ("matchers",), "no matchers: list at least one"),
        (
            {"every": SUNDAY, "matchers": ['env =~ ".*"', 'team != "x"']},
            ("matchers",),
            "every matcher also matches an alert without labels, so this silence would cover",
        ),
        (
            {"every": SUNDAY, "matchers": ['service = "billing', 'env="prod"']},
            ("matchers", 0),
            'unterminated quoted value (missing closing ")',
        ),
        (
            {"every": SUNDAY, "matchers": ['env =~ "(?=prod)"']},
            ("matchers", 0),
            "invalid regex",
        ),
        ({"every": SUNDAY, "comment": "  "}, ("comment",), "empty comment: say why"),
        ({"every": SUNDAY, "author": ""}, ("author",), "empty author: say who set the silence"),
        ({"every": SUNDAY, "name": "bad name"}, ("name",), "invalid name 'bad name'"),
        ({"every": SUNDAY, "until": "x"}, ("until",), "Extra inputs are not permitted"),
    ],
)
def test_invalid_silence(fields: dict[str, Any], loc: tuple[str | int, ...], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        silence(**fields)
    errors = info.value.errors()
    assert any(e["loc"] == loc and message in e["msg"] for e in errors), errors


@pytest.mark.parametrize("missing", ["name", "matchers", "comment", "author"])
def test_required_silence_fields(missing: str) -> None:
    fields = {
        "name": "n",
        "matchers": ['service="billing"'],
        "comment": "c",
        "author": "a",
        "every": SUNDAY,
    }
    del fields[missing]
    with pytest.raises(ValidationError) as info:
        Silence.model_validate(fields)
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [((missing,), "Field required")]


@pytest.mark.parametrize(
    ("fields", "loc", "message"),
    [
        ({"source": []}, ("source",), "no source matchers: list at least one"),
        ({"target": []}, ("target",), "no target matchers: list at least one"),
        ({"target": ['severity =~ "SEV-[234"']}, ("target", 0), "invalid regex"),
        ({"source": ['severity == "SEV-1"']}, ("source", 0), 'invalid operator "=="'),
        ({"equal": []}, ("equal",), "no equal labels: list at least one (e.g. [service])"),
        ({"equal": ["service", "service"]}, ("equal",), "duplicate label 'service'"),
        ({"equal": ["my-label"]}, ("equal", 0), "invalid label name 'my-label'"),
        ({"equal": "service"}, ("equal",), "Input should be a valid list"),
        ({"name": "x"}, ("name",), "Extra inputs are not permitted"),
    ],
)
def test_invalid_inhibition(
    fields: dict[str, Any], loc: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        inhibition(**fields)
    errors = info.value.errors()
    assert any(e["loc"] == loc and message in e["msg"] for e in errors), errors


def test_inhibition_equal_is_required() -> None:
    with pytest.raises(ValidationError) as info:
        Inhibition.model_validate({"source": ['a="b"'], "target": ['c="d"']})
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [(("equal",), "Field required")]


def test_models_are_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        ONE_OFF.comment = "changed"  # type: ignore[misc]
