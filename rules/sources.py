"""The ``sources:`` section of a rule file: per sender, its authentication, rate
limit, SNS topics, or (for a sender triaged has no adapter for) a field mapping.

    sources:
      grafana:
        auth:
          hmac:
            secrets: [{env: GRAFANA_WEBHOOK_SECRET}]
            timestamp_header: X-Grafana-Alerting-Timestamp
        rate_limit: {per_second: 50, burst: 200}
      azure-monitor:
        auth:
          query_token: {param: token, tokens: [{env: AZURE_TOKEN}, {env: AZURE_TOKEN_NEXT}]}
      cloudwatch:
        sns: {topic_arns: ["arn:aws:sns:eu-west-1:123456789012:alarms"]}
      my-tool:                      # no adapter: a mapping makes it a source
        mapping:
          alerts: events
          labels: {alertname: name, service: tags.service, severity: level}
          status: {path: state, resolved: [ok, closed]}
          fingerprint: [id]

Secrets are never written in rule files: a ``SecretRef`` names an environment
variable or a file, read by the receiver when it starts. Every secret setting is a
list, so a new secret can be added before the old one is removed (rotation).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from rules.fields import Duration, invalid

# The senders triaged has an adapter for (receiver.sources); a test keeps the two equal.
BUILTIN_SOURCES = frozenset(
    {
        "alertmanager",
        "generic",
        "grafana",
        "azure-monitor",
        "cloudwatch",
        "gcp-monitoring",
        "datadog",
        "zabbix",
        "sentry",
        "uptime-kuma",
        "kibana",
        "newrelic",
    }
)

_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_TOPIC_ARN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$"
_PATH = re.compile(r"^[^.\s][^\s]*$")


def _check_source_name(value: str) -> str:
    if not _SOURCE_NAME.match(value):
        raise invalid(
            "source_name",
            "a source name is lowercase letters, digits and '-' (it is a URL segment)",
        )
    return value


def _check_header(value: str) -> str:
    if not _HEADER_NAME.match(value):
        raise invalid("header", "an HTTP header name: letters, digits and '-'")
    return value


def _check_path(value: str) -> str:
    if not _PATH.match(value) or ".." in value or value.endswith("."):
        raise invalid(
            "path",
            f"invalid field path {value!r}: keys (and list indexes) joined by '.', e.g. a.b.0",
        )
    return value


SourceName = Annotated[str, AfterValidator(_check_source_name)]
HeaderName = Annotated[str, AfterValidator(_check_header)]
FieldPath = Annotated[str, AfterValidator(_check_path)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Model):
    """Where a secret is read from: ``{env: NAME}`` or ``{file: /run/secrets/x}``."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise invalid("secret", "a secret needs exactly one of the keys: env, file")
        if self.env is not None and not _ENV_NAME.match(self.env):
            raise invalid("secret", "env: an environment variable name")
        return self

    def describe(self) -> str:
        """Where, for messages (never the secret)."""
        return f"environment variable {self.env}" if self.env else f"file {self.file}"


Secrets = Annotated[list[SecretRef], Field(min_length=1, max_length=8)]


class BearerAuth(_Model):
    """``Authorization: Bearer <token>``."""

    tokens: Secrets


class BasicAuth(_Model):
    """HTTP basic authentication (e.g. credentials in an SNS or Datadog URL)."""

    username: Annotated[str, Field(min_length=1, max_length=256)]
    passwords: Secrets


class QueryTokenAuth(_Model):
    """A token in the URL query (``?token=...``), for senders that cannot set headers
    (Azure Monitor action groups). Never logged."""

    param: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "token"
    tokens: Secrets


class HmacAuth(_Model):
    """A hex HMAC-SHA256 of the body in ``header`` (Grafana's webhook signature).
    With ``timestamp_header``, the signed text is ``<timestamp>:<body>`` and a
    timestamp more than ``max_skew`` away from now is refused (replays)."""

    secrets: Secrets
    header: HeaderName = "X-Grafana-Alerting-Signature"
    timestamp_header: HeaderName | None = None
    max_skew: Duration = timedelta(minutes=5)


class SourceAuth(_Model):
    """Exactly one way a sender proves who it is."""

    bearer: BearerAuth | None = None
    basic: BasicAuth | None = None
    query_token: QueryTokenAuth | None = None
    hmac: HmacAuth | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SourceAuth:
        kinds = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(kinds) != 1:
            choices = ", ".join(type(self).model_fields)
            raise invalid("auth", f"auth needs exactly one of the keys: {choices}")
        return self

    def secret_refs(self) -> list[SecretRef]:
        """Every secret this auth reads."""
        if self.bearer:
            return list(self.bearer.tokens)
        if self.basic:
            return list(self.basic.passwords)
        if self.query_token:
            return list(self.query_token.tokens)
        assert self.hmac is not None
        return list(self.hmac.secrets)


class RateLimit(_Model):
    """At most ``per_second`` posts a second on average, ``burst`` at once, per
    receiver process; beyond that the answer is 503 with Retry-After."""

    per_second: Annotated[float, Field(gt=0, le=1_000_000)]
    burst: Annotated[int, Field(strict=True, ge=1, le=10_000_000)] | None = None


class SnsSettings(_Model):
    """AWS SNS (the cloudwatch source): the topics whose messages are accepted and
    whose subscriptions are confirmed. Signatures are always verified."""

    topic_arns: Annotated[list[Annotated[str, Field(pattern=_TOPIC_ARN)]], Field(min_length=1)]
    require_signature_v2: bool = False


class StatusMapping(_Model):
    """Where an alert's status is, and which values of it mean resolved
    (compared case-insensitively; anything else is firing)."""

    path: FieldPath
    resolved: Annotated[list[str], Field(min_length=1)]


class FieldMapping(_Model):
    """How a sender's JSON becomes alerts, for a sender with no adapter.

    Paths are keys (and list indexes) joined by ``.``, read from one alert object.
    """

    alerts: FieldPath | None = None
    labels: Annotated[dict[str, FieldPath], Field(min_length=1)]
    label_objects: list[FieldPath] = []
    annotations: dict[str, FieldPath] = {}
    status: StatusMapping | None = None
    fingerprint: list[FieldPath] = []
    starts_at: FieldPath | None = None
    ends_at: FieldPath | None = None
    group_by: Annotated[list[str], Field(min_length=1, max_length=32)] = ["alertname", "service"]

    @field_validator("labels")
    @classmethod
    def _has_alertname(cls, value: dict[str, str]) -> dict[str, str]:
        if "alertname" not in value:
            raise invalid("mapping", "labels needs an alertname entry (the path to the alert name)")
        return value


class SourceConfig(_Model):
    """One sender's settings."""

    auth: SourceAuth | None = None
    rate_limit: RateLimit | None = None
    sns: SnsSettings | None = None
    mapping: FieldMapping | None = None


def null_is_empty(value: Any) -> Any:
    """``sources:`` with nothing under it is no sources."""
    return {} if value is None else value
