"""Business hours and response deadlines, with fixed clocks.

Europe/London changes clocks on the last Sunday of March (2025-03-30, 01:00
GMT -> 02:00 BST) and of October (2025-10-26, 02:00 BST -> 01:00 GMT).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules import SeverityPolicy, is_open, next_open, response_deadline
from rules.schema import BusinessHours, PageMode

LONDON = ZoneInfo("Europe/London")
HOURS = BusinessHours(
    timezone="Europe/London",
    days=["mon", "tue", "wed", "thu", "fri"],
    start="09:00",
    end="17:30",
    holidays=[date(2025, 12, 25), date(2025, 12, 26)],
)
EVERY_DAY_EARLY = BusinessHours(
    timezone="Europe/London",
    days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    start="01:30",
    end="12:00",
)
BUSINESS_DAY = SeverityPolicy(response_time="business_day", page=PageMode.BUSINESS_HOURS)
NEXT_SPRINT = SeverityPolicy(response_time="next_sprint", page=PageMode.NEVER)


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2025, 3, 24, 8, 30), False),  # Mon 08:30 GMT
        (utc(2025, 3, 24, 9, 0), True),  # Mon 09:00 GMT: start is inclusive
        (utc(2025, 3, 24, 17, 29, 59), True),
        (utc(2025, 3, 24, 17, 30), False),  # end is exclusive
        (utc(2025, 3, 31, 8, 30), True),  # Mon 09:30 BST, after the change
        (utc(2025, 3, 31, 16, 30), False),  # Mon 17:30 BST
        (utc(2025, 3, 29, 12, 0), False),  # Saturday
        (utc(2025, 12, 25, 12, 0), False),  # holiday (a Thursday)
        (datetime(2025, 3, 24, 5, 0, tzinfo=ZoneInfo("America/New_York")), True),  # 09:00 GMT
    ],
)
def test_is_open(now: datetime, expected: bool) -> None:
    assert is_open(HOURS, now) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Friday evening before the spring change -> Monday 09:00 BST (08:00 UTC)
        (utc(2025, 3, 28, 17, 45), utc(2025, 3, 31, 8, 0)),
        # Friday evening before the autumn change -> Monday 09:00 GMT (09:00 UTC)
        (utc(2025, 10, 24, 17, 0), utc(2025, 10, 27, 9, 0)),
        # early on a weekday -> that day
        (utc(2025, 10, 27, 6, 0), utc(2025, 10, 27, 9, 0)),
        # Christmas Eve after hours -> skips the 25th and 26th (holidays) and the weekend
        (utc(2025, 12, 24, 18, 0), utc(2025, 12, 29, 9, 0)),
    ],
)
def test_next_open(now: datetime, expected: datetime) -> None:
    opening = next_open(HOURS, now)
    assert opening == expected
    assert opening.tzinfo is UTC
    local = opening.astimezone(LONDON)
    assert (local.hour, local.minute) == (9, 0)  # local wall clock, whatever the offset


def test_next_open_when_open_is_now() -> None:
    now = datetime(2025, 3, 24, 10, 0, tzinfo=LONDON)
    assert next_open(HOURS, now) == now
    assert next_open(HOURS, now).tzinfo is UTC


def test_opening_inside_the_spring_gap() -> None:
    # 01:30 does not exist in London on 2025-03-30: read with the GMT offset -> 02:30 BST
    opening = next_open(EVERY_DAY_EARLY, utc(2025, 3, 29, 13, 0))
    assert opening == utc(2025, 3, 30, 1, 30)
    local = opening.astimezone(LONDON)
    assert (local.hour, local.minute, local.utcoffset()) == (2, 30, timedelta(hours=1))


def test_opening_inside_the_autumn_fold_is_the_first_one() -> None:
    # 01:30 happens twice in London on 2025-10-26: first at 00:30 UTC (BST)
    assert next_open(EVERY_DAY_EARLY, utc(2025, 10, 25, 13, 0)) == utc(2025, 10, 26, 0, 30)


def test_duration_deadline_counts_real_time_across_the_autumn_change() -> None:
    policy = SeverityPolicy(response_time="2h", page=PageMode.IMMEDIATELY)
    now = datetime(2025, 10, 26, 0, 30, tzinfo=LONDON)  # 00:30 BST = 23:30 UTC on the 25th
    deadline = response_deadline(policy, HOURS, now)
    assert deadline == utc(2025, 10, 26, 1, 30)  # two real hours
    assert deadline is not None
    local = deadline.astimezone(LONDON)
    assert (local.hour, local.fold) == (1, 1)  # the wall clock shows the second 01:30


def test_duration_deadline_counts_real_time_across_the_spring_change() -> None:
    policy = SeverityPolicy(response_time="15m", page=PageMode.IMMEDIATELY)
    now = datetime(2025, 3, 30, 0, 50, tzinfo=LONDON)  # 00:50 GMT
    assert response_deadline(policy, HOURS, now) == utc(2025, 3, 30, 1, 5)  # 02:05 BST


def test_business_day_deadline_when_open_is_todays_close() -> None:
    now = utc(2025, 3, 31, 10, 0)  # Mon 11:00 BST
    assert response_deadline(BUSINESS_DAY, HOURS, now) == utc(2025, 3, 31, 16, 30)


def test_business_day_deadline_when_closed_is_the_next_days_close() -> None:
    friday_evening = utc(2025, 10, 24, 17, 0)  # Fri 18:00 BST
    # Monday 17:30 GMT, after the autumn change
    assert response_deadline(BUSINESS_DAY, HOURS, friday_evening) == utc(2025, 10, 27, 17, 30)


def test_business_day_deadline_skips_holidays() -> None:
    assert response_deadline(BUSINESS_DAY, HOURS, utc(2025, 12, 24, 18, 0)) == utc(
        2025, 12, 29, 17, 30
    )


def test_next_sprint_has_no_deadline() -> None:
    assert response_deadline(NEXT_SPRINT, HOURS, utc(2025, 3, 24, 10, 0)) is None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        is_open(HOURS, datetime(2025, 3, 24, 10, 0))
    with pytest.raises(ValueError, match="naive"):
        response_deadline(NEXT_SPRINT, HOURS, datetime(2025, 3, 24, 10, 0))


def test_no_business_day_at_all() -> None:
    closed = BusinessHours(days=["mon"], holidays=[])
    every_monday = [date(2025, 1, 6) + timedelta(weeks=w) for w in range(110)]
    closed = closed.model_copy(update={"holidays": every_monday})
    with pytest.raises(ValueError, match="no business day"):
        next_open(closed, utc(2025, 1, 1, 0, 0))


def test_digest_times_follow_the_local_clock_and_the_days() -> None:
    from rules.calendar import next_digest, previous_digest
    from rules.schema import Digest

    weekdays = Digest.model_validate({"notify": ["x"], "at": "09:00", "timezone": "Europe/Berlin"})
    # Friday 2026-03-27 after 09:00 CET: next is Monday 03-30 09:00 CEST (07:00Z), not Saturday
    after = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    assert next_digest(weekdays, after) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert previous_digest(weekdays, after) == datetime(2026, 3, 27, 8, 0, tzinfo=UTC)
    # exactly at a digest time: the next is the following one, the previous the one before
    at = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert next_digest(weekdays, at) == datetime(2026, 3, 31, 7, 0, tzinfo=UTC)
    assert previous_digest(weekdays, at) == datetime(2026, 3, 27, 8, 0, tzinfo=UTC)
