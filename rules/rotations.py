"""On-call rotations (``rotations:``), and who is on call when. Pure: the time is passed in.

    rotations:
      checkout-primary:
        members: [alice, bob, carol]     # contact names, in order
        length: weekly                   # daily | weekly | a duration (3d, 12h; at least 1h)
        handoff: "09:00"                 # local time of day the shift changes
        weekday: mon                     # weekly only (default mon)
        timezone: Europe/Berlin
        start: 2026-01-05                # members[0]'s first shift starts then, at handoff
        overrides:                       # local times in the rotation's zone
          - {who: dave, start: "2026-11-27T18:00", end: "2026-11-28T09:00"}

Regular shifts follow the local wall clock when the length is whole days
(``daily``, ``weekly``, ``3d``, ``2w``): the handoff stays at 09:00 local across
daylight-saving changes, so the shift spanning the change is an hour shorter or
longer. Any other length (``12h``, ``36h``) counts real hours from the first
handoff, so its local handoff times move by an hour when the clocks change. A
weekly rotation's ``start`` must fall on its ``weekday``.

A local time that does not exist (02:30 on a spring-forward night) or happens
twice (02:30 on a fall-back night) is read the way ``zoneinfo`` reads ``fold=0``,
as ``rules.calendar`` does: a skipped time with the offset in force before the
change (02:30 in Berlin on 2026-03-29 is 03:30 CEST), a repeated time as its
first occurrence (02:30 CEST on 2026-10-25). This holds for handoffs and for
override times alike; an override whose end, so read, is not after its start
is refused. A shift the clocks skip entirely (Samoa skipped 2011-12-30) lasts
no time and is never returned: its member misses that turn.

An override covers ``[start, end)``; where overrides overlap, the one listed
later wins. Overrides apply before the rotation's start too; otherwise nobody
is on call before the first handoff. A ``Shift`` is one stretch of unchanged
on-call duty: a regular shift that an override interrupts is cut in two, and
``next_shift(rotation, t)`` starts where ``shift_at(rotation, t)`` ends (unless
nobody is on call then: an override that ends before the first handoff).
Every instant returned is in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    field_validator,
)

from rules.durations import format_duration, parse_duration
from rules.fields import Name, TimeOfDay, TimeZoneName, invalid

MAX_MEMBERS = 50
MIN_LENGTH = timedelta(hours=1)
_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)  # the resolution of datetime: "just before"
_LOCAL_RE = re.compile(  # a date and a time; an offset is recognized, to be refused clearly
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"
)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

WeekdayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"""A weekly rotation's handoff day, as ``business_hours.days`` spells days."""


class Cadence(StrEnum):
    """Rotation lengths written as words."""

    DAILY = "daily"
    WEEKLY = "weekly"


def _to_length(value: Any) -> Cadence | timedelta:
    if isinstance(value, Cadence) or value in ("daily", "weekly"):
        return Cadence(value)
    hint = "expected daily, weekly or a duration such as 3d or 12h"
    if isinstance(value, timedelta):
        length = value
    else:
        try:
            length = parse_duration(value)
        except ValueError:
            raise invalid("length", f"invalid length {value!r}: {hint}") from None
    if length < MIN_LENGTH:
        shown = format_duration(length) if length >= timedelta(0) else str(length)
        raise invalid("length", f"length {shown} is too short: a shift lasts at least 1h")
    return length


def _format_length(value: Cadence | timedelta) -> str:
    return value.value if isinstance(value, Cadence) else format_duration(value)


ShiftLength = Annotated[
    Cadence | timedelta,
    PlainValidator(_to_length),
    PlainSerializer(_format_length, return_type=str, when_used="json"),
]
"""``daily``, ``weekly`` or a duration of at least an hour."""


def _to_local_datetime(value: Any) -> datetime:
    hint = 'expected a local date and time in quotes, e.g. "2026-11-27T18:00"'
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _LOCAL_RE.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:  # e.g. month 13
            parsed = None
    if parsed is None:
        raise invalid("local_datetime", f"invalid time {value!r}: {hint}")
    if parsed.tzinfo is not None:
        raise invalid(
            "local_datetime",
            f"{value!s} has a UTC offset: write the local wall-clock time in the "
            'rotation\'s time zone, without offset (e.g. "2026-11-27T18:00")',
        )
    return parsed


def _format_local_datetime(value: datetime) -> str:
    exact = value.second == 0 and value.microsecond == 0
    return value.isoformat(timespec="minutes") if exact else value.isoformat()


LocalDateTime = Annotated[
    datetime,
    PlainValidator(_to_local_datetime),
    PlainSerializer(_format_local_datetime, return_type=str, when_used="json"),
]
"""A naive date and time, read in the rotation's zone (``"2026-11-27T18:00"``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Override(_Model):
    """``who`` is on call from ``start`` (inclusive) to ``end`` (exclusive), local times."""

    who: Name
    start: LocalDateTime
    end: LocalDateTime

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise invalid(
                "override",
                f"end {_format_local_datetime(value)} is not after "
                f"start {_format_local_datetime(start)}",
            )
        return value


class Rotation(_Model):
    """Members take turns of ``length``, changing at ``handoff`` local time from ``start``."""

    members: list[Name]
    length: ShiftLength
    handoff: TimeOfDay
    weekday: WeekdayName | None = None
    timezone: TimeZoneName
    start: date
    overrides: list[Override] = []

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        if not value:
            raise invalid("members", "no members: list at least one contact")
        if len(value) > MAX_MEMBERS:
            raise invalid("members", f"{len(value)} members: at most {MAX_MEMBERS}")
        duplicates = sorted({m for m in value if value.count(m) > 1})
        if duplicates:
            plural = "s" if len(duplicates) > 1 else ""
            raise invalid("members", f"duplicate member{plural} {', '.join(map(repr, duplicates))}")
        return value

    @field_validator("weekday", mode="before")
    @classmethod
    def _known_weekday(cls, value: Any) -> Any:
        if value is not None and value not in _WEEKDAYS:
            raise invalid(
                "weekday", f"unknown weekday {value!r}: expected one of {', '.join(_WEEKDAYS)}"
            )
        return value

    @field_validator("weekday")
    @classmethod
    def _weekly_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        length = info.data.get("length")
        if value is not None and length is not None and length is not Cadence.WEEKLY:
            raise invalid(
                "weekday",
                f"weekday applies to weekly rotations only, not to length {_format_length(length)}",
            )
        return value

    @field_validator("start")
    @classmethod
    def _start_on_weekday(cls, value: date, info: ValidationInfo) -> date:
        if info.data.get("length") is not Cadence.WEEKLY or "weekday" not in info.data:
            return value
        day = info.data["weekday"] or "mon"
        if _WEEKDAYS[value.weekday()] != day:
            default = "" if info.data["weekday"] else " (the default)"
            raise invalid(
                "start",
                f"start {value} is a {value:%A}, but weekly handoffs are on {day}{default}: "
                f"start on a {day} or set weekday: {_WEEKDAYS[value.weekday()]}",
            )
        return value

    @field_validator("overrides", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("overrides")
    @classmethod
    def _ordered_in_zone(cls, value: list[Override], info: ValidationInfo) -> list[Override]:
        name = info.data.get("timezone")
        if name is None:
            return value
        for i, override in enumerate(value):
            if _resolve(override.start, ZoneInfo(name)) >= _resolve(override.end, ZoneInfo(name)):
                raise invalid(
                    "override",
                    f"override {i} ({override.who}): end {_format_local_datetime(override.end)}"
                    f" is not after start {_format_local_datetime(override.start)} in {name}:"
                    " a time the clocks skip is read with the offset before the change",
                )
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The time zone."""
        return ZoneInfo(self.timezone)

    @property
    def handoff_time(self) -> time:
        """The local time of day shifts change."""
        return time.fromisoformat(self.handoff)

    @property
    def handoff_weekday(self) -> WeekdayName | None:
        """The handoff day of a weekly rotation (``mon`` unless set), else None."""
        return (self.weekday or "mon") if self.length is Cadence.WEEKLY else None


@dataclass(frozen=True)
class Shift:
    """A stretch of time in which ``person`` is on call.

    Attributes:
        person: The contact name.
        start: When the stretch begins (inclusive), UTC.
        end: When it ends (exclusive), UTC.
        override: True when an override puts ``person`` on call.
    """

    person: str
    start: datetime
    end: datetime
    override: bool


def shift_at(rotation: Rotation, at: datetime) -> Shift | None:
    """Say who is on call at ``at``.

    Args:
        rotation: The rotation.
        at: A tz-aware instant.

    Returns:
        The stretch containing ``at``: an override's (cut where a later-listed
        override takes over) or a regular shift's (cut where an override takes
        over). None before the first handoff when no override covers ``at``.

    Raises:
        ValueError: ``at`` is naive.
    """
    return _Timeline(rotation).shift_at(_utc(at))


def next_shift(rotation: Rotation, at: datetime) -> Shift:
    """Say who is on call after the stretch containing ``at``.

    Args:
        rotation: The rotation.
        at: A tz-aware instant.

    Returns:
        The stretch that follows: it starts where ``shift_at(rotation, at)``
        ends (an override that starts before the current regular shift ends
        comes next). Before the first handoff, the first stretch in which
        somebody is on call.

    Raises:
        ValueError: ``at`` is naive.
    """
    timeline = _Timeline(rotation)
    t = _utc(at)
    while True:  # runs twice at most: a gap before the first handoff is skipped
        t = timeline.stretch_end(t, timeline.source(t))
        following = timeline.shift_at(t)
        if following is not None:
            return following


class _Source(NamedTuple):
    """What puts somebody on call: override number ``number``, or regular shift ``number``."""

    override: bool
    number: int


class _Timeline:
    """A rotation's overrides and handoffs as UTC instants."""

    def __init__(self, rotation: Rotation) -> None:
        self.rotation = rotation
        zone = rotation.zone
        self.overrides = [
            (_resolve(o.start, zone), _resolve(o.end, zone)) for o in rotation.overrides
        ]
        self.boundaries = sorted({t for pair in self.overrides for t in pair})
        self.first = _resolve(datetime.combine(rotation.start, rotation.handoff_time), zone)
        length = rotation.length
        self.days: int | None = None  # wall-clock lengths, in days
        self.span: timedelta | None = None  # other lengths, counted in real time
        if isinstance(length, Cadence):
            self.days = 1 if length is Cadence.DAILY else 7
        elif length % _DAY == timedelta(0):
            self.days = length.days
        else:
            self.span = length

    def handoff(self, k: int) -> datetime:
        """When regular shift ``k`` (0: the first) begins."""
        if self.span is not None:
            return self.first + k * self.span
        assert self.days is not None
        day = self.rotation.start + timedelta(days=k * self.days)
        return _resolve(datetime.combine(day, self.rotation.handoff_time), self.rotation.zone)

    def regular_index(self, t: datetime) -> int | None:
        """The regular shift at ``t``: the last handoff at or before it."""
        if t < self.first:
            return None
        if self.span is not None:
            return (t - self.first) // self.span
        assert self.days is not None
        local_day = t.astimezone(self.rotation.zone).date()
        k = max(0, (local_day - self.rotation.start).days // self.days)
        while self.handoff(k) > t:
            k -= 1
        while self.handoff(k + 1) <= t:
            k += 1
        return k

    def source(self, t: datetime) -> _Source | None:
        """What puts somebody on call at ``t``: the last-listed covering override first."""
        for i in reversed(range(len(self.overrides))):
            start, end = self.overrides[i]
            if start <= t < end:
                return _Source(True, i)
        k = self.regular_index(t)
        return None if k is None else _Source(False, k)

    def shift_at(self, t: datetime) -> Shift | None:
        """The stretch containing the UTC instant ``t``."""
        source = self.source(t)
        if source is None:
            return None
        if source.override:
            person = self.rotation.overrides[source.number].who
        else:
            person = self.rotation.members[source.number % len(self.rotation.members)]
        return Shift(
            person=person,
            start=self.stretch_start(t, source),
            end=self.stretch_end(t, source),
            override=source.override,
        )

    def stretch_start(self, at: datetime, source: _Source) -> datetime:
        """The earliest instant since which ``source`` holds without a break up to ``at``."""
        floor = self.overrides[source.number][0] if source.override else self.handoff(source.number)
        for b in reversed(self.boundaries):
            if floor < b <= at and self.source(b - _TICK) != source:
                return b
        return floor

    def stretch_end(self, at: datetime, source: _Source | None) -> datetime:
        """The first instant after ``at`` at which ``source`` no longer holds."""
        if source is None:  # before the first handoff
            ceiling = self.first
        elif source.override:
            ceiling = self.overrides[source.number][1]
        else:
            ceiling = self.handoff(source.number + 1)
        for b in self.boundaries:
            if at < b < ceiling and self.source(b) != source:
                return b
        return ceiling


def _resolve(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive local time in ``zone`` (fold=0: see module docstring)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass a tz-aware instant")
    return at.astimezone(UTC)


def on_call_now_and_next(rotation: Rotation, at: datetime) -> dict[str, object]:
    """Who is on call at ``at`` and who is next, as JSON-ready data (the on-call API
    and ``triaged oncall``)."""
    now = shift_at(rotation, at)
    following = next_shift(rotation, at)

    def shown(shift: Shift | None) -> dict[str, object] | None:
        if shift is None:
            return None
        return {
            "person": shift.person,
            "from": shift.start.isoformat(),
            "until": shift.end.isoformat(),
            "override": shift.override,
        }

    return {"now": shown(now), "next": shown(following), "timezone": rotation.timezone}
