"""Channel kinds a contact is paged through, as written in rule files.

    contacts:
      alice:
        role: Primary on-call engineer
        channels:                       # tried in this order: a channel that fails
          - pagerduty: {routing_key_env: PD_ROUTING_KEY}      # for good, or past its
          - slack: {url_env: SLACK_ONCALL_WEBHOOK}            # share of the step's
          - email: {to: [alice@example.com], smtp: {host: smtp.example.com}}   # time,
          - webhook: https://hooks.example/page               # hands on to the next

Secrets (webhook URLs with tokens in them, routing keys, API keys, SMTP passwords)
are never written in rule files: each ``*_env`` names an environment variable of
the workers. ``url`` fields that are not secret (a PagerDuty or Opsgenie API base
for a proxy or the EU region) may be written out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from rules.fields import Duration, HttpUrl
from rules.probes import EnvName


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackSettings(_Model):
    """A Slack incoming webhook (its URL, a secret, from ``url_env``): a Block Kit
    message with the severity, summary, diagnosis and an Acknowledge button."""

    url_env: EnvName
    timeout: Duration = timedelta(seconds=10)


class TeamsSettings(_Model):
    """A Microsoft Teams workflow webhook (URL from ``url_env``): an Adaptive Card."""

    url_env: EnvName
    timeout: Duration = timedelta(seconds=10)


class PagerDutySettings(_Model):
    """PagerDuty Events API v2: ``trigger`` with ``dedup_key`` = the incident id;
    ``acknowledge`` / ``resolve`` when the incident is acknowledged / resolved here."""

    routing_key_env: EnvName
    url: HttpUrl = "https://events.pagerduty.com/v2/enqueue"
    timeout: Duration = timedelta(seconds=10)


class SmtpSettings(_Model):
    """An SMTP server: STARTTLS unless ``starttls: false``; login when a username is
    given (the password from ``password_env``)."""

    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, Field(strict=True, ge=1, le=65535)] = 587
    starttls: bool = True
    username: str | None = None
    password_env: EnvName | None = None


class EmailSettings(_Model):
    """The page as a plain-text email."""

    to: Annotated[list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]], Field(min_length=1)]
    sender: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", alias="from")] = "triaged@localhost"
    smtp: SmtpSettings
    timeout: Duration = timedelta(seconds=15)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class OpsgenieSettings(_Model):
    """The Opsgenie Alert API: create with ``alias`` = the incident id (Opsgenie
    deduplicates on it); acknowledge / close when acknowledged / resolved here."""

    api_key_env: EnvName
    url: HttpUrl = "https://api.opsgenie.com"
    priority: Literal["P1", "P2", "P3", "P4", "P5"] | None = None
    timeout: Duration = timedelta(seconds=10)


class SlackChannel(_Model):
    slack: SlackSettings

    @property
    def kind(self) -> Literal["slack"]:
        return "slack"


class TeamsChannel(_Model):
    teams: TeamsSettings

    @property
    def kind(self) -> Literal["teams"]:
        return "teams"


class PagerDutyChannel(_Model):
    pagerduty: PagerDutySettings

    @property
    def kind(self) -> Literal["pagerduty"]:
        return "pagerduty"


class EmailChannel(_Model):
    email: EmailSettings

    @property
    def kind(self) -> Literal["email"]:
        return "email"


class OpsgenieChannel(_Model):
    opsgenie: OpsgenieSettings

    @property
    def kind(self) -> Literal["opsgenie"]:
        return "opsgenie"
