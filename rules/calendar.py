"""Business hours and response deadlines. Pure: the clock is passed in.

Times are computed in the business hours' time zone with ``zoneinfo``, so
opening and closing follow the local wall clock across daylight-saving
changes; durations are added in absolute time (15 minutes are 15 real minutes
even when the clocks go back in between). Every ``now`` must be tz-aware.
An opening or closing time that does not exist on a spring-forward day is
read with the offset in force before the change, as PEP 495 does (01:30 in
London on that Sunday is 02:30 BST); one that happens twice on a fall-back day
is its first occurrence.

Every instant returned is in UTC: PEP 495 makes a local time in a repeated
hour (``fold=1``) unequal to every instant of another zone, so local results
would compare wrongly. ``.astimezone(hours.zone)`` shows the local time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.durations import ResponseWindow
from rules.schema import BusinessHours, Digest, SeverityPolicy

_SEARCH_DAYS = 2 * 366  # holidays could close a long stretch; not forever


def is_open(hours: BusinessHours, now: datetime) -> bool:
    """Say whether business hours are open at ``now``.

    Args:
        hours: The business hours.
        now: A tz-aware instant.

    Returns:
        True on an open weekday that is not a holiday, from start (inclusive)
        to end (exclusive), local time.

    Raises:
        ValueError: ``now`` is naive.
    """
    local = _local(hours, now)
    day = local.date()
    if not _is_business_day(hours, day):
        return False
    return _at(hours, day, hours.start_time) <= now < _at(hours, day, hours.end_time)


def next_open(hours: BusinessHours, now: datetime) -> datetime:
    """Find when business hours are next open: ``now`` itself if open now.

    Args:
        hours: The business hours.
        now: A tz-aware instant.

    Returns:
        The instant, in UTC.

    Raises:
        ValueError: ``now`` is naive, or no business day comes within two years.
    """
    if is_open(hours, now):
        return now.astimezone(UTC)
    return _opening_after(hours, now)[0]


def response_deadline(
    policy: SeverityPolicy, hours: BusinessHours, now: datetime
) -> datetime | None:
    """Compute when an incident classified at ``now`` must be acknowledged.

    Args:
        policy: The severity's policy.
        hours: The business hours.
        now: A tz-aware instant: when the incident was classified.

    Returns:
        In UTC: ``now`` plus the duration; for ``business_day`` the close of the
        business day open at ``now``, or of the next business day when closed;
        for ``next_sprint`` None (no deadline to watch).

    Raises:
        ValueError: ``now`` is naive.
    """
    _local(hours, now)
    response = policy.response_time
    if isinstance(response, timedelta):
        return now.astimezone(UTC) + response
    if response is ResponseWindow.NEXT_SPRINT:
        return None
    if is_open(hours, now):
        return _at(hours, _local(hours, now).date(), hours.end_time)
    return _opening_after(hours, now)[1]


def _opening_after(hours: BusinessHours, now: datetime) -> tuple[datetime, datetime]:
    """The next (opening, closing) of a business day that opens after ``now``."""
    day = _local(hours, now).date()
    for offset in range(_SEARCH_DAYS):
        candidate = day + timedelta(days=offset)
        if not _is_business_day(hours, candidate):
            continue
        opening = _at(hours, candidate, hours.start_time)
        if opening > now:
            return opening, _at(hours, candidate, hours.end_time)
    raise ValueError(f"no business day within {_SEARCH_DAYS} days of {now.isoformat()}")


def _is_business_day(hours: BusinessHours, day: date) -> bool:
    return day not in hours.holidays and any(d.number == day.weekday() for d in hours.days)


def _at(hours: BusinessHours, day: date, clock: time) -> datetime:
    """The instant the local wall clock shows ``clock`` on ``day`` (see module docstring)."""
    return datetime.combine(day, clock, tzinfo=hours.zone).astimezone(UTC)


def _local(hours: BusinessHours, now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now.isoformat()}: pass a tz-aware now")
    return now.astimezone(hours.zone)


def next_digest(digest: Digest, after: datetime) -> datetime:
    """The first digest time strictly after ``after`` (UTC): ``digest.at`` local time
    on one of ``digest.days`` in ``digest.timezone`` (a time the clocks skip is read
    with ``fold=0``, as business hours are)."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    zone = ZoneInfo(digest.timezone)
    at = time.fromisoformat(digest.at)
    numbers = {d.number for d in digest.days}
    day = after.astimezone(zone).date()
    for offset in range(9):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() not in numbers:
            continue
        candidate = datetime.combine(candidate_day, at, tzinfo=zone).astimezone(UTC)
        if candidate > after:
            return candidate
    raise ValueError("no digest day")  # unreachable: days holds at least one weekday


def previous_digest(digest: Digest, before: datetime) -> datetime:
    """The last digest time strictly before ``before`` (UTC)."""
    probe = before - timedelta(days=8)
    last = next_digest(digest, probe)
    while (following := next_digest(digest, last)) < before:
        last = following
    return last
