"""Silences and inhibitions: when pages are held back. Pure: the time is passed in.

    silences:
      - name: sunday-maintenance
        matchers: ['service = "billing"', 'env =~ "prod|staging"']   # all must match
        comment: weekly DB maintenance
        author: sre-team
        every: {weekdays: [sun], start: "02:00", end: "04:00", timezone: Europe/Berlin}
      - name: db-migration                   # or a one-off window, aware times
        matchers: ['service = "billing"']
        comment: schema migration
        author: alice
        starts_at: 2026-12-01T22:00:00Z
        ends_at: 2026-12-02T02:00:00Z
    inhibit:
      - source: ['severity = "SEV-1"']       # an open incident matching these ...
        target: ['severity =~ "SEV-[234]"']  # ... holds the pages of incidents matching these
        equal: [service]                     # ... when these labels are equal on both

A silence needs at least one matcher that does not match an empty label set
(as Alertmanager requires): ``env=~".*"`` alone would silence every alert.

**Recurring windows** follow the local wall clock of ``timezone``: a window
starts at ``start`` on each listed weekday and ends at the next ``end``, the
same day, or the next day when ``end`` is before ``start`` (``23:00``-``01:00``
on ``sun`` runs from Sunday 23:00 to Monday 01:00: the weekday is the one the
window starts on). Like ``rules.calendar`` and ``rules.rotations``, a local time
is read the way ``zoneinfo`` reads ``fold=0``:

- a time the clocks skip takes the offset in force before the change, so
  ``02:00`` on Berlin's spring-forward night (2026-03-29) is 01:00 UTC, the
  instant the clocks jump to 03:00 CEST: a 02:00-04:00 window lasts one real
  hour that night. A window inside the skipped hour moves with it (02:15-02:45
  runs 03:15-03:45 CEST), and one whose end, so read, is not after its start
  (02:30-03:00: 01:30 and 01:00 UTC) lasts no time and is not active that night;
- a time that happens twice is its first occurrence, so on the fall-back night
  (2026-10-25) 02:00 is 02:00 CEST and a 02:00-04:00 window lasts three hours.

Where a gap makes two windows overlap (a window ending in the skipped hour
and the next one starting just after it), ``window_at`` returns the one that
started first. One-off windows are absolute instants: they must carry a zone
(``Z`` or an offset) and are kept in UTC.

**Inhibitions** (Alertmanager's ``inhibit_rules``): an open incident (the
source) holds the pages of another (the target) when the source matches every
``source`` matcher, the target every ``target`` matcher, and each ``equal``
label has the same value on both. Two decisions:

- Unlike Alertmanager, a label missing on both sides (or empty: matchers read
  an absent label as ``""``) is *not* equal. Alertmanager's rule lets a SEV-1
  without a ``service`` label hold the pages of every SEV-2 without one, from
  any sender; here an inhibition that cannot tell which service it is about
  holds nothing, because a page too many costs less than a page lost.
- As in Alertmanager, a target that also matches ``source`` is held only by a
  source that does not match ``target``, so two incidents never hold each
  other's pages (and an incident never holds its own).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rules.fields import MatcherText, Name, TimeOfDay, TimeZoneName, invalid
from rules.matchers import Matcher, parse_matchers

WeekdayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"""A day of the week, as ``business_hours.days`` spells days."""

_WEEKDAYS: tuple[WeekdayName, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INSTANT_RE = re.compile(  # a date and a time; a missing zone is recognized, to be refused clearly
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"
)
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")  # as rules.matchers reads names


def _to_utc_instant(value: Any) -> datetime:
    hint = 'expected a date and time with a zone, e.g. "2026-12-01T22:00:00Z"'
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _INSTANT_RE.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:  # e.g. month 13
            parsed = None
    if parsed is None:
        shown = value.isoformat() if isinstance(value, date) else repr(value)
        raise invalid("instant", f"invalid time {shown}: {hint}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise invalid(
            "instant",
            f"{value!s} has no time zone: add Z (UTC) or an offset such as +01:00",
        )
    return parsed.astimezone(UTC)


def _format_instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


Instant = Annotated[
    datetime,
    PlainValidator(_to_utc_instant),
    PlainSerializer(_format_instant, return_type=str, when_used="json"),
]
"""An aware date and time (``2026-12-01T22:00:00Z``), kept in UTC."""


def _check_label_name(value: Any) -> str:
    if not isinstance(value, str) or not _LABEL_NAME_RE.fullmatch(value):
        raise invalid(
            "label_name",
            f"invalid label name {value!r}: expected [a-zA-Z_:][a-zA-Z0-9_:]*",
        )
    return value


LabelName = Annotated[str, PlainValidator(_check_label_name)]
"""A label name, as matchers spell them."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Recurrence(_Model):
    """A window from ``start`` to ``end`` local time on each of ``weekdays``.

    ``end`` before ``start`` means the window ends the next day.
    """

    weekdays: list[WeekdayName]
    start: TimeOfDay
    end: TimeOfDay
    timezone: TimeZoneName

    @field_validator("weekdays", mode="before")
    @classmethod
    def _known_weekdays(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value  # pydantic says it is not a list
        if not value:
            raise invalid("weekdays", f"no weekdays: list at least one of {', '.join(_WEEKDAYS)}")
        for day in value:
            if day not in _WEEKDAYS:
                raise invalid(
                    "weekdays",
                    f"unknown weekday {day!r}: expected one of {', '.join(_WEEKDAYS)}",
                )
        duplicates = sorted({d for d in value if value.count(d) > 1}, key=_WEEKDAYS.index)
        if duplicates:
            raise invalid("weekdays", f"duplicate weekday {', '.join(map(repr, duplicates))}")
        return value

    @field_validator("end")
    @classmethod
    def _has_length(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("start"):
            raise invalid(
                "window",
                f"start and end are both {value}: a window needs a length "
                "(an end before the start ends the next day)",
            )
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The time zone."""
        return ZoneInfo(self.timezone)

    @property
    def start_time(self) -> time:
        """When a window starts, local."""
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        """When a window ends, local (the next day when before ``start_time``)."""
        return time.fromisoformat(self.end)


class Silence(_Model):
    """Alerts matching all ``matchers`` page nobody during the silence's windows.

    Either a one-off window (``starts_at`` and ``ends_at``) or a recurring one
    (``every``).
    """

    name: Name
    matchers: list[MatcherText]
    comment: str
    author: str
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    every: Recurrence | None = None

    @field_validator("matchers")
    @classmethod
    def _not_everything(cls, value: list[str]) -> list[str]:
        if not value:
            raise invalid("matchers", 'no matchers: list at least one, e.g. service="billing"')
        if all(m.matches({}) for text in value for m in parse_matchers(text)):
            raise invalid(
                "matchers",
                "every matcher also matches an alert without labels, so this silence would "
                'cover every alert: add one that needs a label value, e.g. service="billing"',
            )
        return value

    @field_validator("comment", "author")
    @classmethod
    def _not_blank(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            hint = "who set the silence" if info.field_name == "author" else "why"
            raise invalid("blank", f"empty {info.field_name}: say {hint}")
        return value

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("starts_at")
        if value is not None and start is not None and value <= start:
            raise invalid(
                "window",
                f"ends_at {_format_instant(value)} is not after starts_at {_format_instant(start)}",
            )
        return value

    @model_validator(mode="after")
    def _one_window(self) -> Silence:
        one_off = (self.starts_at is not None, self.ends_at is not None)
        if self.every is not None and any(one_off):
            raise invalid(
                "window",
                "both a one-off window (starts_at/ends_at) and a recurring one (every): "
                "give one of the two",
            )
        if self.every is None and one_off == (False, False):
            raise invalid(
                "window",
                "no window: give starts_at and ends_at (one-off) or every (recurring)",
            )
        if self.every is None and not all(one_off):
            given, missing = ("starts_at", "ends_at") if one_off[0] else ("ends_at", "starts_at")
            raise invalid("window", f"{given} without {missing}: a one-off window needs both")
        return self

    @cached_property
    def parsed_matchers(self) -> tuple[Matcher, ...]:
        """The matchers, parsed (each entry may hold a comma-separated list)."""
        return tuple(m for text in self.matchers for m in parse_matchers(text))


class Inhibition(_Model):
    """An open incident matching ``source`` holds the pages of one matching ``target``
    when every ``equal`` label is present, not empty, and the same on both.

    See the module docstring for how this differs from Alertmanager.
    """

    source: list[MatcherText]
    target: list[MatcherText]
    equal: list[LabelName]

    @field_validator("source", "target")
    @classmethod
    def _some_matchers(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value:
            raise invalid(
                "matchers",
                f'no {info.field_name} matchers: list at least one, e.g. severity="SEV-1"',
            )
        return value

    @field_validator("equal")
    @classmethod
    def _some_labels(cls, value: list[str]) -> list[str]:
        if not value:
            raise invalid(
                "equal",
                "no equal labels: list at least one (e.g. [service]), or one incident "
                "would hold the pages of unrelated ones",
            )
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise invalid("equal", f"duplicate label {', '.join(map(repr, duplicates))}")
        return value

    @cached_property
    def source_matchers(self) -> tuple[Matcher, ...]:
        """The source matchers, parsed (once)."""
        return tuple(m for text in self.source for m in parse_matchers(text))

    @cached_property
    def target_matchers(self) -> tuple[Matcher, ...]:
        """The target matchers, parsed (once)."""
        return tuple(m for text in self.target for m in parse_matchers(text))

    def may_hold(self, target_labels: Mapping[str, str]) -> bool:
        """Whether an incident with ``target_labels`` is one this rule can hold."""
        return _all_match(self.target_matchers, target_labels)

    def inhibits(self, source_labels: Mapping[str, str], target_labels: Mapping[str, str]) -> bool:
        """Say whether an incident with ``source_labels`` holds one with ``target_labels``.

        Args:
            source_labels: The labels of the open incident that may inhibit.
            target_labels: The labels of the incident whose pages may be held.

        Returns:
            True when the source matches ``source``, the target matches
            ``target``, every ``equal`` label is non-empty and equal on both,
            and, if the target matches ``source`` too, the source does not
            match ``target`` (no mutual holds).
        """
        source, target = self.source_matchers, self.target_matchers
        if not (_all_match(source, source_labels) and _all_match(target, target_labels)):
            return False
        if _all_match(source, target_labels) and _all_match(target, source_labels):
            return False
        return all(
            source_labels.get(name, "") != "" and source_labels.get(name) == target_labels.get(name)
            for name in self.equal
        )


def silence_matches(silence: Silence, labels: Mapping[str, str]) -> bool:
    """Say whether ``labels`` satisfy every matcher of ``silence`` (absent label = ``""``)."""
    return _all_match(silence.parsed_matchers, labels)


def window_at(silence: Silence, at: datetime) -> tuple[datetime, datetime] | None:
    """Find the window of ``silence`` that is active at ``at``.

    Args:
        silence: The silence.
        at: A tz-aware instant.

    Returns:
        ``(start, end)`` in UTC with ``start <= at < end``, or None when no
        window is active. Recurring windows are read as the module docstring
        says (wall clock, ``fold=0``).

    Raises:
        ValueError: ``at`` is naive.
    """
    t = _utc(at)
    every = silence.every
    if every is None:
        assert silence.starts_at is not None and silence.ends_at is not None
        return (
            (silence.starts_at, silence.ends_at)
            if silence.starts_at <= t < silence.ends_at
            else None
        )
    today = t.astimezone(every.zone).date()
    # A window starts on the local day of ``at`` or the day before; the day
    # after covers clocks that go back across midnight.
    for offset in (-1, 0, 1):
        day = today + timedelta(days=offset)
        if _WEEKDAYS[day.weekday()] not in every.weekdays:
            continue
        start, end = _window_on(every, day)
        if start <= t < end:
            return start, end
    return None


def _window_on(every: Recurrence, day: date) -> tuple[datetime, datetime]:
    """The window starting on local ``day``, in UTC; empty when the clocks skip it."""
    end_day = day + timedelta(days=1) if every.end_time < every.start_time else day
    return _resolve(day, every.start_time, every.zone), _resolve(
        end_day, every.end_time, every.zone
    )


def _resolve(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC instant the wall clock of ``zone`` shows ``clock`` on ``day`` (fold=0)."""
    return datetime.combine(day, clock, tzinfo=zone).replace(fold=0).astimezone(UTC)


def _all_match(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass a tz-aware instant")
    return at.astimezone(UTC)
