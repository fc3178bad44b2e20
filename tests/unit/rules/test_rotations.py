"""On-call rotations: who is on call when, with fixed clocks.

Europe/Berlin changes clocks on 2026-03-29 (01:00 UTC: 02:00 CET -> 03:00 CEST)
and 2026-10-25 (01:00 UTC: 03:00 CEST -> 02:00 CET); America/New_York on
2026-03-08 (07:00 UTC: 02:00 EST -> 03:00 EDT) and 2026-11-01 (06:00 UTC:
02:00 EDT -> 01:00 EST). Every expected instant is written in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rules.rotations import Cadence, Rotation, Shift, next_shift, shift_at

BERLIN = ZoneInfo("Europe/Berlin")
TICK = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def rotation(**fields: Any) -> Rotation:
    """A weekly Monday 09:00 Berlin rotation from 2026-01-05, with ``fields`` changed."""
    base: dict[str, Any] = {
        "members": ["alice", "bob", "carol"],
        "length": "weekly",
        "handoff": "09:00",
        "timezone": "Europe/Berlin",
        "start": "2026-01-05",
    }
    return Rotation.model_validate(base | fields)


def handoffs(rot: Rotation, since: datetime, count: int) -> list[datetime]:
    """The starts of the ``count`` stretches from the one containing ``since``."""
    shift = shift_at(rot, since)
    assert shift is not None
    starts = [shift.start]
    for _ in range(count - 1):
        shift = next_shift(rot, shift.start)
        starts.append(shift.start)
    return starts


WEEKLY = rotation()


@pytest.mark.parametrize(
    ("at", "person", "start", "end"),
    [
        (utc(2026, 1, 5, 8), "alice", utc(2026, 1, 5, 8), utc(2026, 1, 12, 8)),  # 09:00 CET
        (utc(2026, 1, 12, 7, 59, 59), "alice", utc(2026, 1, 5, 8), utc(2026, 1, 12, 8)),
        (utc(2026, 1, 12, 8), "bob", utc(2026, 1, 12, 8), utc(2026, 1, 19, 8)),
        (utc(2026, 1, 20, 12), "carol", utc(2026, 1, 19, 8), utc(2026, 1, 26, 8)),
        (utc(2026, 1, 28, 0), "alice", utc(2026, 1, 26, 8), utc(2026, 2, 2, 8)),
        (utc(2026, 2, 2, 8), "bob", utc(2026, 2, 2, 8), utc(2026, 2, 9, 8)),
        # week 11 spans the spring change: 167 hours
        (utc(2026, 3, 25, 12), "carol", utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)),
        (utc(2026, 4, 1, 12), "alice", utc(2026, 3, 30, 7), utc(2026, 4, 6, 7)),  # 09:00 CEST
    ],
)
def test_weekly(at: datetime, person: str, start: datetime, end: datetime) -> None:
    assert shift_at(WEEKLY, at) == Shift(person, start, end, override=False)


def test_weekly_on_another_weekday() -> None:
    rot = rotation(weekday="wed", start="2026-01-07", handoff="10:30")
    assert handoffs(rot, utc(2026, 1, 7, 9, 30), 3) == [
        utc(2026, 1, 7, 9, 30),
        utc(2026, 1, 14, 9, 30),
        utc(2026, 1, 21, 9, 30),
    ]
    assert rot.handoff_weekday == "wed"
    assert WEEKLY.handoff_weekday == "mon"


@pytest.mark.parametrize(
    "at",
    [utc(2026, 1, 5, 7, 59, 59), utc(2025, 12, 1, 0), datetime(2026, 1, 5, 8, 59, tzinfo=BERLIN)],
)
def test_nobody_before_the_first_handoff(at: datetime) -> None:
    assert shift_at(WEEKLY, at) is None


def test_next_shift_before_the_start_is_the_first() -> None:
    assert next_shift(WEEKLY, utc(2025, 12, 1, 0)) == Shift(
        "alice", utc(2026, 1, 5, 8), utc(2026, 1, 12, 8), override=False
    )


def test_next_shift_follows_the_current_one() -> None:
    at = utc(2026, 1, 13, 0)
    current = shift_at(WEEKLY, at)
    assert current is not None
    following = next_shift(WEEKLY, at)
    assert following == Shift("carol", utc(2026, 1, 19, 8), utc(2026, 1, 26, 8), override=False)
    assert following.start == current.end


def test_daily_members_take_turns() -> None:
    rot = rotation(length="daily", start="2026-01-05")
    people = [shift_at(rot, utc(2026, 1, 5 + d, 12)) for d in range(5)]
    assert [s.person for s in people if s] == ["alice", "bob", "carol", "alice", "bob"]


def test_the_at_may_be_in_any_zone() -> None:
    tokyo = datetime(2026, 1, 12, 17, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 08:00 UTC
    shift = shift_at(WEEKLY, tokyo)
    assert shift is not None and shift.person == "bob" and shift.start.tzinfo is UTC


def test_naive_at_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        shift_at(WEEKLY, datetime(2026, 1, 12, 8, 0))
    with pytest.raises(ValueError, match="naive"):
        next_shift(WEEKLY, datetime(2026, 1, 12, 8, 0))


# --- daylight saving -------------------------------------------------------


BER, NYC = "Europe/Berlin", "America/New_York"


@pytest.mark.parametrize(
    ("zone", "length", "first", "expected"),
    [
        # daily 09:00 stays 09:00 local: the shift over the change is 23h, then 25h
        (BER, "daily", "2026-03-27 09:00", "03-27 08:00  03-28 08:00  03-29 07:00  03-30 07:00"),
        (BER, "daily", "2026-10-23 09:00", "10-23 07:00  10-24 07:00  10-25 08:00  10-26 08:00"),
        # 02:30 does not exist on 03-29: read with CET, i.e. 03:30 CEST = 01:30 UTC
        (BER, "daily", "2026-03-27 02:30", "03-27 01:30  03-28 01:30  03-29 01:30  03-30 00:30"),
        # 02:30 happens twice on 10-25: the first one, CEST = 00:30 UTC
        (BER, "daily", "2026-10-23 02:30", "10-23 00:30  10-24 00:30  10-25 00:30  10-26 01:30"),
        (NYC, "daily", "2026-03-06 09:00", "03-06 14:00  03-07 14:00  03-08 13:00  03-09 13:00"),
        (NYC, "daily", "2026-10-30 09:00", "10-30 13:00  10-31 13:00  11-01 14:00  11-02 14:00"),
        # 02:30 does not exist on 03-08: read with EST, i.e. 03:30 EDT = 07:30 UTC
        (NYC, "daily", "2026-03-06 02:30", "03-06 07:30  03-07 07:30  03-08 07:30  03-09 06:30"),
        # 01:30 happens twice on 11-01: the first one, EDT = 05:30 UTC
        (NYC, "daily", "2026-10-30 01:30", "10-30 05:30  10-31 05:30  11-01 05:30  11-02 06:30"),
        # weekly: the week over the change is 167h in spring, 169h in autumn
        (BER, "weekly", "2026-03-16 09:00", "03-16 08:00  03-23 08:00  03-30 07:00  04-06 07:00"),
        (BER, "weekly", "2026-10-19 09:00", "10-19 07:00  10-26 08:00  11-02 08:00"),
        (NYC, "weekly", "2026-03-02 09:00", "03-02 14:00  03-09 13:00"),
        # whole days count on the wall clock too
        (BER, "3d", "2026-03-27 09:00", "03-27 08:00  03-30 07:00  04-02 07:00"),
        (NYC, "2d", "2026-10-31 09:00", "10-31 13:00  11-02 14:00"),
        # other lengths are real hours: 12h from 09:00 CET is 10:00 and 22:00 CEST after
        (BER, "12h", "2026-03-28 09:00", "03-28 08:00  03-28 20:00  03-29 08:00  03-29 20:00"),
        (BER, "36h", "2026-03-28 09:00", "03-28 08:00  03-29 20:00  03-31 08:00"),
        (NYC, "12h", "2026-10-31 09:00", "10-31 13:00  11-01 01:00  11-01 13:00"),
    ],
)
def test_handoffs_around_clock_changes(zone: str, length: str, first: str, expected: str) -> None:
    start, handoff = first.split()
    rot = rotation(timezone=zone, length=length, handoff=handoff, start=start)
    instants = [
        datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        for text in expected.split("  ")
    ]
    assert handoffs(rot, instants[0], len(instants)) == instants


def test_handoff_in_the_spring_gap_shows_as_the_hour_after() -> None:
    rot = rotation(length="daily", handoff="02:30", start="2026-03-27")
    shift = shift_at(rot, utc(2026, 3, 29, 12))
    assert shift == Shift("carol", utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30), False)
    local = shift.start.astimezone(BERLIN)
    assert (local.hour, local.minute, local.utcoffset()) == (3, 30, timedelta(hours=2))
    assert shift.end - shift.start == timedelta(hours=23)


@pytest.mark.parametrize(
    ("at", "person"),
    [
        (datetime(2026, 10, 25, 2, 29, fold=0, tzinfo=BERLIN), "bob"),  # 00:29 UTC
        (datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN), "carol"),  # the handoff
        (datetime(2026, 10, 25, 2, 29, fold=1, tzinfo=BERLIN), "carol"),  # 01:29 UTC
        (datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN), "carol"),  # no second handoff
    ],
)
def test_handoff_in_the_autumn_fold_is_the_first(at: datetime, person: str) -> None:
    rot = rotation(length="daily", handoff="02:30", start="2026-10-23")
    shift = shift_at(rot, at)
    assert shift is not None and shift.person == person
    if person == "carol":
        assert (shift.start, shift.end) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30))


def test_twelve_hour_handoffs_move_on_the_local_clock() -> None:
    rot = rotation(length="12h", start="2026-03-28", members=["day", "night"])
    local = [
        (s.start.astimezone(BERLIN).hour, s.person)
        for s in (shift_at(rot, t) for t in handoffs(rot, utc(2026, 3, 28, 8), 4))
        if s is not None
    ]
    assert local == [(9, "day"), (21, "night"), (10, "day"), (22, "night")]


# --- overrides -------------------------------------------------------------

DAVE = {"who": "dave", "start": "2026-11-27T18:00", "end": "2026-11-28T09:00"}  # 17:00-08:00 UTC
ERIN = {"who": "erin", "start": "2026-11-27T22:00", "end": "2026-11-28T02:00"}  # 21:00-01:00 UTC
BOB_WEEK = (utc(2026, 11, 23, 8), utc(2026, 11, 30, 8))  # week 46 of the rotation


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 11, 27, 16, 59, 59), Shift("bob", BOB_WEEK[0], utc(2026, 11, 27, 17), False)),
        (utc(2026, 11, 27, 17), Shift("dave", utc(2026, 11, 27, 17), utc(2026, 11, 28, 8), True)),
        (
            utc(2026, 11, 28, 7, 59, 59),
            Shift("dave", utc(2026, 11, 27, 17), utc(2026, 11, 28, 8), True),
        ),
        (utc(2026, 11, 28, 8), Shift("bob", utc(2026, 11, 28, 8), BOB_WEEK[1], False)),
    ],
)
def test_override_edges(at: datetime, expected: Shift) -> None:
    assert shift_at(rotation(overrides=[DAVE]), at) == expected


def test_later_override_wins_where_they_overlap() -> None:
    rot = rotation(overrides=[DAVE, ERIN])
    stretches = [shift_at(rot, utc(2026, 11, 27, 12))]
    for _ in range(5):
        previous = stretches[-1]
        assert previous is not None
        stretches.append(next_shift(rot, previous.start))
    assert stretches == [
        Shift("bob", BOB_WEEK[0], utc(2026, 11, 27, 17), False),
        Shift("dave", utc(2026, 11, 27, 17), utc(2026, 11, 27, 21), True),
        Shift("erin", utc(2026, 11, 27, 21), utc(2026, 11, 28, 1), True),
        Shift("dave", utc(2026, 11, 28, 1), utc(2026, 11, 28, 8), True),
        Shift("bob", utc(2026, 11, 28, 8), BOB_WEEK[1], False),
        Shift("carol", BOB_WEEK[1], utc(2026, 12, 7, 8), False),
    ]


def test_an_earlier_override_inside_a_later_one_is_hidden() -> None:
    rot = rotation(overrides=[ERIN, DAVE])
    assert shift_at(rot, utc(2026, 11, 27, 22)) == Shift(
        "dave", utc(2026, 11, 27, 17), utc(2026, 11, 28, 8), True
    )


def test_next_shift_is_an_override_that_starts_first() -> None:
    rot = rotation(overrides=[DAVE])
    assert next_shift(rot, utc(2026, 11, 24, 0)) == Shift(
        "dave", utc(2026, 11, 27, 17), utc(2026, 11, 28, 8), True
    )
    assert next_shift(rot, utc(2026, 11, 27, 20)) == Shift(
        "bob", utc(2026, 11, 28, 8), BOB_WEEK[1], False
    )


def test_override_over_a_handoff() -> None:
    rot = rotation(
        overrides=[{"who": "dave", "start": "2026-11-29T12:00", "end": "2026-11-30T12:00"}]
    )
    assert handoffs(rot, utc(2026, 11, 24, 0), 3) == [
        BOB_WEEK[0],
        utc(2026, 11, 29, 11),
        utc(2026, 11, 30, 11),
    ]
    assert shift_at(rot, utc(2026, 11, 30, 11)) == Shift(
        "carol", utc(2026, 11, 30, 11), utc(2026, 12, 7, 8), False
    )


def test_override_before_the_start() -> None:
    rot = rotation(
        overrides=[{"who": "dave", "start": "2026-01-01T00:00", "end": "2026-01-02T00:00"}]
    )
    dave = Shift("dave", utc(2025, 12, 31, 23), utc(2026, 1, 1, 23), True)
    alice = Shift("alice", utc(2026, 1, 5, 8), utc(2026, 1, 12, 8), False)
    assert shift_at(rot, utc(2026, 1, 1, 12)) == dave
    assert shift_at(rot, utc(2026, 1, 3, 12)) is None
    assert next_shift(rot, utc(2025, 12, 1, 0)) == dave
    assert next_shift(rot, utc(2026, 1, 1, 12)) == alice  # the gap is skipped
    assert next_shift(rot, utc(2026, 1, 3, 12)) == alice


def test_override_times_in_the_autumn_fold_are_the_first() -> None:
    # 02:30 CEST (00:30 UTC) to 03:00 CET (02:00 UTC): an hour and a half
    override = {"who": "dave", "start": "2026-10-25T02:30", "end": "2026-10-25T03:00"}
    shift = shift_at(rotation(overrides=[override]), utc(2026, 10, 25, 1))
    assert shift == Shift("dave", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2), True)


_OVERRIDE = st.builds(
    lambda who, day, hour, hours: {
        "who": who,
        "start": (datetime(2026, 3, 20) + timedelta(days=day, hours=hour)).isoformat(),
        "end": (datetime(2026, 3, 20) + timedelta(days=day, hours=hour + hours)).isoformat(),
    },
    st.sampled_from(["dave", "erin", "frank"]),
    st.integers(0, 14),
    st.integers(0, 23),
    st.integers(1, 60),
)


@settings(max_examples=200, deadline=None)
@given(
    overrides=st.lists(_OVERRIDE, max_size=4),
    length=st.sampled_from(["daily", "weekly", "2d", "12h", "5h"]),
    minutes=st.integers(0, 20 * 24 * 60),
)
def test_stretches_tile_time(overrides: list[dict[str, str]], length: str, minutes: int) -> None:
    start = "2026-03-23" if length == "weekly" else "2026-03-22"
    plain = rotation(length=length, start=start, handoff="02:30")
    try:
        rot = plain.model_validate(plain.model_dump() | {"overrides": overrides})
    except ValidationError:  # e.g. 02:00-03:00 on 03-29: both are 01:00 UTC
        assume(False)
    at = utc(2026, 3, 20, 0) + timedelta(minutes=minutes)
    shift, regular = shift_at(rot, at), shift_at(plain, at)
    following = next_shift(rot, at)
    covering = [o for o in rot.overrides if _local(o.start) <= at < _local(o.end)]
    if shift is None:
        assert regular is None and not covering and following.start > at
        return
    assert shift.start <= at < shift.end
    if shift_at(rot, shift.end) is None:  # an override before the start: skip the gap
        assert following.start > shift.end
    else:
        assert following.start == shift.end
    assert shift_at(rot, shift.start) == shift == shift_at(rot, shift.end - TICK)
    assert shift_at(rot, following.start) == following
    assert shift.override is bool(covering)
    if covering:
        assert shift.person == covering[-1].who
    else:
        assert regular is not None and shift.person == regular.person
        assert regular.start <= shift.start and shift.end <= regular.end


def _local(naive: datetime) -> datetime:
    return naive.replace(tzinfo=BERLIN).astimezone(UTC)


# --- the file format -------------------------------------------------------

EXAMPLE = """
rotations:
  checkout-primary:
    members: [alice, bob, carol]
    length: weekly
    handoff: "09:00"
    weekday: mon
    timezone: Europe/Berlin
    start: 2026-01-05
    overrides:
      - {who: dave, start: "2026-11-27T18:00", end: "2026-11-28T09:00"}
"""


def test_yaml_example_round_trips() -> None:
    data = yaml.safe_load(EXAMPLE)["rotations"]["checkout-primary"]
    rot = Rotation.model_validate(data)
    assert rot.length is Cadence.WEEKLY and rot.start == date(2026, 1, 5)
    dumped = rot.model_dump(mode="json")
    assert dumped["overrides"][0]["start"] == "2026-11-27T18:00"
    assert Rotation.model_validate(dumped) == rot
    assert rotation(length="1d12h").model_dump(mode="json")["length"] == "1d12h"


@pytest.mark.parametrize(
    ("fields", "loc", "message"),
    [
        ({"members": []}, ("members",), "no members: list at least one contact"),
        ({"members": ["a", "b", "a"]}, ("members",), "duplicate member 'a'"),
        ({"members": [f"m{i}" for i in range(51)]}, ("members",), "51 members: at most 50"),
        ({"members": ["bad name"]}, ("members", 0), "invalid name 'bad name'"),
        ({"length": "fortnightly"}, ("length",), "invalid length 'fortnightly': expected daily"),
        ({"length": "30m"}, ("length",), "length 30m is too short: a shift lasts at least 1h"),
        ({"handoff": "9am"}, ("handoff",), 'expected a time "HH:MM" in quotes'),
        ({"handoff": 630}, ("handoff",), 'expected a time "HH:MM" in quotes, got 630'),
        (
            {"handoff": 540},  # YAML reads an unquoted 9:00 as 540
            ("handoff",),
            'expected a time "HH:MM" in quotes, got 540 '
            "(YAML reads an unquoted 9:00 as a number: quote it)",
        ),
        (
            {"handoff": "24:00"},
            ("handoff",),
            "'24:00' is not a time of day: hours 00-23, minutes 00-59",
        ),
        ({"handoff": "09:60"}, ("handoff",), "'09:60' is not a time of day"),
        ({"handoff": True}, ("handoff",), 'expected a time "HH:MM" in quotes, got True'),
        ({"weekday": "monday"}, ("weekday",), "unknown weekday 'monday': expected one of mon,"),
        (
            {"weekday": "mon", "length": "daily"},
            ("weekday",),
            "weekday applies to weekly rotations only, not to length daily",
        ),
        (
            {"weekday": "mon", "length": "12h"},
            ("weekday",),
            "weekday applies to weekly rotations only, not to length 12h",
        ),
        ({"timezone": "Mars/Olympus"}, ("timezone",), "unknown time zone 'Mars/Olympus'"),
        (
            {"start": "2026-01-07"},
            ("start",),
            "start 2026-01-07 is a Wednesday, but weekly handoffs are on mon (the default)",
        ),
        (
            {"start": "2026-01-07", "weekday": "tue"},
            ("start",),
            "weekly handoffs are on tue: start on a tue or set weekday: wed",
        ),
        (
            {"overrides": [{"who": "d", "start": "2026-11-28T09:00", "end": "2026-11-28T09:00"}]},
            ("overrides", 0, "end"),
            "end 2026-11-28T09:00 is not after start 2026-11-28T09:00",
        ),
        (
            {"overrides": [{"who": "d", "start": "2026-11-27T18:00+01:00", "end": "2026-11-28"}]},
            ("overrides", 0, "start"),
            "2026-11-27T18:00+01:00 has a UTC offset: write the local wall-clock time",
        ),
        (
            {"overrides": [{"who": "d", "start": "2026-11-27T17:00Z", "end": "2026-11-28T09:00"}]},
            ("overrides", 0, "start"),
            "has a UTC offset",
        ),
        (
            {"overrides": [{"who": "d", "start": "2026-11-27T18:00", "end": "2026-11-28"}]},
            ("overrides", 0, "end"),
            "invalid time '2026-11-28': expected a local date and time in quotes",
        ),
        (
            {"overrides": [{"who": "d", "start": "2026-13-27T18:00", "end": "2026-11-28T09:00"}]},
            ("overrides", 0, "start"),
            "invalid time '2026-13-27T18:00'",
        ),
        (
            # 02:30 is skipped: read as 03:30 CEST, after 03:15 CEST
            {"overrides": [{"who": "d", "start": "2026-03-29T02:30", "end": "2026-03-29T03:15"}]},
            ("overrides",),
            "override 0 (d): end 2026-03-29T03:15 is not after start 2026-03-29T02:30"
            " in Europe/Berlin",
        ),
        ({"shifts": 3}, ("shifts",), "Extra inputs are not permitted"),
    ],
)
def test_invalid(fields: dict[str, Any], loc: tuple[str | int, ...], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        rotation(**fields)
    errors = info.value.errors()
    assert any(e["loc"] == loc and message in e["msg"] for e in errors), errors


def test_offset_from_a_yaml_timestamp_is_refused() -> None:
    override = yaml.safe_load("{who: d, start: 2026-11-27T18:00:00+01:00, end: '2026-11-28T09:00'}")
    with pytest.raises(ValidationError, match="has a UTC offset"):
        rotation(overrides=[override])


def test_unquoted_yaml_timestamp_without_offset_is_local() -> None:
    override = yaml.safe_load("{who: d, start: 2026-11-27T18:00:00, end: '2026-11-28T09:00'}")
    assert rotation(overrides=[override]).overrides[0].start == datetime(2026, 11, 27, 18)


def test_no_overrides_may_be_null() -> None:
    assert rotation(overrides=None).overrides == []
