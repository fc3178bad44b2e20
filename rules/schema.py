"""The rule-file format, as pydantic models.

Every model forbids unknown keys (a misspelled key is an error, as in
Alertmanager's strict config loading) and is frozen. The top level of a file is
``RuleFile``; every one of its keys is optional, and ``rules.loader`` merges the
files of a directory. The models also serve the ``Decision`` snapshot stored
with an incident, so each round-trips through ``model_dump(mode="json")``:
durations are written back in the syntax they are read in (``"15m"``).
"""

from __future__ import annotations

from datetime import date, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from rules.channels import (
    EmailChannel,
    OpsgenieChannel,
    PagerDutyChannel,
    SlackChannel,
    TeamsChannel,
)
from rules.durations import ResponseWindow
from rules.fields import (
    Delay,
    Duration,
    HttpUrl,
    MatcherText,
    Name,
    ResponseTime,
    TimeOfDay,
    TimeZoneName,
    invalid,
)
from rules.matchers import Matcher, parse_matchers
from rules.probes import HttpProbe, ProbeKind, ProbeSpec, ProbeTargets, Regrade
from rules.rotations import Rotation
from rules.silences import Inhibition, Silence
from rules.sources import SourceConfig, SourceName


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(StrEnum):
    """The runbook's severity levels; ``rank`` 1 is the most severe."""

    SEV_1 = "SEV-1"
    SEV_2 = "SEV-2"
    SEV_3 = "SEV-3"
    SEV_4 = "SEV-4"

    @property
    def rank(self) -> int:
        """1 for SEV-1 (most severe) to 4 for SEV-4: lower is more severe."""
        return int(self.value.removeprefix("SEV-"))


class PageMode(StrEnum):
    """When a severity pages somebody."""

    IMMEDIATELY = "immediately"
    BUSINESS_HOURS = "business_hours"
    NEVER = "never"


class SeverityPolicy(_Model):
    """How one severity is handled: response time, paging, repeats, diagnosis budget.

    Attributes:
        response_time: Deadline for an acknowledgement.
        page: When pages go out.
        repeat: How many more times the escalation steps run after the last one.
        diagnosis_budget: How long probes may take before the first page; None
            in a file means the severity's default (the loader fills it in).
    """

    response_time: ResponseTime
    page: PageMode
    repeat: Annotated[int, Field(strict=True, ge=0)] = 0
    diagnosis_budget: Duration | None = None

    @property
    def response_timedelta(self) -> timedelta | None:
        """The response time when it is a fixed duration, else None."""
        return None if isinstance(self.response_time, ResponseWindow) else self.response_time


class Weekday(StrEnum):
    """Days of the week as written in ``business_hours.days``."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """0 for Monday to 6 for Sunday, as ``date.weekday()``."""
        return list(Weekday).index(self)


_WEEKDAYS = [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]


class BusinessHours(_Model):
    """When the business day is open. ``start`` must be before ``end``."""

    timezone: TimeZoneName = "UTC"
    days: list[Weekday] = Field(default_factory=lambda: list(_WEEKDAYS), min_length=1)
    start: TimeOfDay = "09:00"
    end: TimeOfDay = "17:00"
    holidays: list[date] = []

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if self.start_time >= self.end_time:
            raise invalid("business_hours", f"start {self.start} is not before end {self.end}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The time zone."""
        return ZoneInfo(self.timezone)

    @property
    def start_time(self) -> time:
        """Opening time, local."""
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        """Closing time, local."""
        return time.fromisoformat(self.end)


class WebhookChannel(_Model):
    """A JSON POST of the page to ``webhook``."""

    webhook: HttpUrl
    timeout: Duration = timedelta(seconds=10)

    @property
    def kind(self) -> Literal["webhook"]:
        """The channel kind."""
        return "webhook"


class LogLevel(StrEnum):
    """Log levels a log channel writes at."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogSettings(_Model):
    """Settings of a log channel."""

    level: LogLevel = LogLevel.WARNING


class LogChannel(_Model):
    """The page written to the daemon's log: ``- log: {}``."""

    log: LogSettings

    @field_validator("log", mode="before")
    @classmethod
    def _bare_log(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def kind(self) -> Literal["log"]:
        """The channel kind."""
        return "log"


_CHANNEL_KINDS = ("webhook", "log", "slack", "teams", "pagerduty", "email", "opsgenie")


def _channel_tag(value: Any) -> str | None:
    kind = getattr(value, "kind", None)
    if isinstance(kind, str):
        return f"{kind} channel"
    if isinstance(value, dict):
        return next((f"{k} channel" for k in _CHANNEL_KINDS if k in value), None)
    return None


ChannelSpec = Annotated[
    Annotated[WebhookChannel, Tag("webhook channel")]
    | Annotated[LogChannel, Tag("log channel")]
    | Annotated[SlackChannel, Tag("slack channel")]
    | Annotated[TeamsChannel, Tag("teams channel")]
    | Annotated[PagerDutyChannel, Tag("pagerduty channel")]
    | Annotated[EmailChannel, Tag("email channel")]
    | Annotated[OpsgenieChannel, Tag("opsgenie channel")],
    Discriminator(
        _channel_tag,
        custom_error_type="channel",
        custom_error_message="a channel needs one of the keys: " + ", ".join(_CHANNEL_KINDS),
    ),
]
"""One of the channel kinds, told apart by its key."""

UNION_TAGS = frozenset(f"{k} channel" for k in _CHANNEL_KINDS)
"""Tags pydantic puts in error locations of tagged unions (not keys of the file)."""


class Contact(_Model):
    """Somebody to page, and how."""

    role: str
    name: str | None = None
    channels: list[ChannelSpec] = Field(min_length=1)


class EscalationStep(_Model):
    """Page ``notify`` (contacts) and whoever is on call in ``rotations`` when the
    step before is unacknowledged for ``after``."""

    after: Delay = timedelta(0)
    notify: list[str] = []
    rotations: list[str] = []

    @model_validator(mode="after")
    def _somebody(self) -> EscalationStep:
        if not self.notify and not self.rotations:
            raise invalid("step", "a step needs notify (contacts) or rotations (or both)")
        return self


class Digest(_Model):
    """SEV-4 incidents page nobody: they are collected into a digest sent to
    ``notify`` on ``days`` at ``at`` (local time in ``timezone``), and optionally
    POSTed as a ticket (JSON) to ``ticket_webhook``."""

    notify: list[str] = Field(min_length=1)
    at: str = "09:00"
    days: list[Weekday] = [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]
    timezone: TimeZoneName = "UTC"
    ticket_webhook: HttpUrl | None = None

    @field_validator("at")
    @classmethod
    def _time(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError as exc:
            raise invalid("time", 'a time of day, quoted: "09:00"') from exc
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[Weekday]) -> list[Weekday]:
        if not value:
            raise invalid("days", "at least one day")
        return value


class Stakeholders(_Model):
    """Who hears of incidents of ``severities`` (the stakeholder notification
    template, sent with the first page)."""

    severities: list[Severity] = Field(min_length=1)
    notify: list[str] = Field(min_length=1)


class Rule(_Model):
    """Alerts whose labels satisfy all ``matchers`` get ``severity`` and ``probes``;
    ``regrade`` changes the severity on what the probes found (first match wins)."""

    name: Name
    matchers: list[MatcherText] = Field(min_length=1)
    severity: Severity
    probes: list[str] = []
    regrade: list[Regrade] = []
    policy: Name | None = None

    def parsed_matchers(self) -> tuple[Matcher, ...]:
        """The matchers, parsed (each entry may hold a comma-separated list)."""
        return tuple(m for text in self.matchers for m in parse_matchers(text))


class RuleFile(_Model):
    """One YAML file of a rules directory; every key is optional."""

    severities: dict[Severity, SeverityPolicy] = {}
    business_hours: BusinessHours | None = None
    default_severity: Severity | None = None
    contacts: dict[Name, Contact] = {}
    escalation: dict[Severity, list[EscalationStep]] = {}
    policies: dict[Name, dict[Severity, list[EscalationStep]]] = {}
    rotations: dict[Name, Rotation] = {}
    silences: list[Silence] = []
    inhibit: list[Inhibition] = []
    digest: Digest | None = None
    stakeholders: Stakeholders | None = None
    probes: dict[Name, ProbeSpec] = {}
    rules: list[Rule] = []
    sources: dict[SourceName, SourceConfig] = {}
    probe_targets: ProbeTargets | None = None

    @field_validator(
        "severities",
        "contacts",
        "escalation",
        "probes",
        "sources",
        "policies",
        "rotations",
        mode="before",
    )
    @classmethod
    def _null_is_empty_mapping(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("rules", "silences", "inhibit", mode="before")
    @classmethod
    def _null_is_empty_list(cls, value: Any) -> Any:
        return [] if value is None else value


__all__ = ["HttpProbe", "ProbeKind", "ProbeSpec", "ProbeTargets"]
