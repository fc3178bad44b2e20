"""Probe kinds, as written in rule files (``probes:``), and where they may connect.

    probe_targets:                       # for the probes of this file whose target
      hosts: ["*.svc.cluster.local"]     # uses alert labels: the hosts (globs),
      networks: [10.0.0.0/8]             # networks (CIDR) and ports they may reach
      ports: [80, 443, 8080]
    probes:
      checkout-health:
        http: {url: "http://{instance}/health", expect_status: 200, max_latency: 500ms}
      checkout-db: {tcp: {host: db.internal, port: 5432}}
      github: {statuspage: {url: "https://www.githubstatus.com", components: [Actions]}}

A target written out in full is the SRE's choice and needs no ``probe_targets``;
one that takes ``{label}`` values from an alert (``{instance}``) is checked, after
the labels are filled in and the name resolved, against ``probe_targets`` of the
file that defines the probe (none there: refused). Cloud metadata and link-local
addresses are always refused. Placeholders are ``{label_name}`` only: no
expressions, no formatting, nothing of the alert is ever evaluated.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from rules.fields import Duration, HttpUrl, invalid

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def placeholders(text: str) -> list[str]:
    """The label names a template uses, in order."""
    return _PLACEHOLDER.findall(text)


def _check_template(value: str) -> str:
    for name in placeholders(value):
        if not _LABEL.match(name):
            raise invalid(
                "template", f"{{{name}}}: a placeholder is a label name, e.g. {{instance}}"
            )
    if "{" in _PLACEHOLDER.sub("", value) or "}" in _PLACEHOLDER.sub("", value):
        raise invalid("template", "unbalanced { or }: placeholders are {label_name}")
    return value


def _check_url_template(value: str) -> str:
    _check_template(value)
    if not re.match(r"^https?://", value):
        raise invalid(
            "url",
            f"expected an http:// or https:// URL (it may use {{label}} placeholders), "
            f"got {value!r}",
        )
    return value


def _check_query_template(value: str) -> str:
    # PromQL has braces of its own ({job="api"}): only {label_name} is a placeholder
    if not value.strip():
        raise invalid("query", "an empty query")
    return value


Template = Annotated[str, AfterValidator(_check_template)]
UrlTemplate = Annotated[str, AfterValidator(_check_url_template)]
QueryTemplate = Annotated[str, AfterValidator(_check_query_template)]


def _check_env(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise invalid("env", "an environment variable name")
    return value


EnvName = Annotated[str, AfterValidator(_check_env)]
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbeTargets(_Model):
    """Where probes whose target takes alert labels may connect."""

    hosts: list[Annotated[str, Field(min_length=1, max_length=253)]] = []
    networks: list[str] = []
    ports: list[Port] = []

    @field_validator("networks")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError as exc:
                raise invalid(
                    "network", f"{text!r} is not a network (CIDR, e.g. 10.0.0.0/8)"
                ) from exc
        return value


class StatusRange(_Model):
    """Statuses from ``low`` to ``high``, both included."""

    low: Annotated[int, Field(ge=100, le=599)]
    high: Annotated[int, Field(ge=100, le=599)]


def _status(value: Any) -> Any:
    """``200``, ``"2xx"`` or ``"200-299"``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"[1-5]xx", text):
            return {"low": int(text[0]) * 100, "high": int(text[0]) * 100 + 99}
        match = re.fullmatch(r"(\d{3})\s*-\s*(\d{3})", text)
        if match:
            return {"low": int(match[1]), "high": int(match[2])}
        raise invalid("status", 'a status (200), a class ("2xx") or a range ("200-299")')
    if isinstance(value, int) and not isinstance(value, bool):
        return {"low": value, "high": value}
    return value


class JsonCheck(_Model):
    """The JSON body's field at ``path`` (keys and indexes joined by ``.``) equals
    ``equals``."""

    path: Annotated[str, Field(min_length=1, max_length=256)]
    equals: str | int | float | bool | None


class HttpProbe(_Model):
    """Request ``url``; healthy on ``expect_status`` (None: any 2xx/3xx), the body
    checks and ``max_latency``."""

    kind: Literal["http"] = "http"
    url: UrlTemplate
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect_status: Annotated[StatusRange | None, Field(default=None)] = None
    timeout: Duration = timedelta(seconds=2)
    body_contains: str | None = None
    json_field: JsonCheck | None = None
    max_latency: Duration | None = None

    @field_validator("expect_status", mode="before")
    @classmethod
    def _expect(cls, value: Any) -> Any:
        return _status(value)


class TcpProbe(_Model):
    """Connect to ``host``:``port`` (a database, cache or broker is reachable)."""

    kind: Literal["tcp"] = "tcp"
    host: Template
    port: Port | Template
    timeout: Duration = timedelta(seconds=2)


class DnsProbe(_Model):
    """``name`` resolves (to one of ``expect`` when given)."""

    kind: Literal["dns"] = "dns"
    name: Template
    expect: list[str] = []
    timeout: Duration = timedelta(seconds=2)


class TlsProbe(_Model):
    """The certificate of ``host``:``port`` expires in more than ``min_days``."""

    kind: Literal["tls"] = "tls"
    host: Template
    port: Port | Template = 443
    min_days: Annotated[int, Field(strict=True, ge=0, le=3650)] = 14
    timeout: Duration = timedelta(seconds=3)


class RedisProbe(_Model):
    """``PING`` the Redis whose URL is in environment variable ``url_env``."""

    kind: Literal["redis"] = "redis"
    url_env: EnvName
    timeout: Duration = timedelta(seconds=2)


class PostgresProbe(_Model):
    """``SELECT 1`` on the PostgreSQL whose DSN is in environment variable ``dsn_env``."""

    kind: Literal["postgres"] = "postgres"
    dsn_env: EnvName
    timeout: Duration = timedelta(seconds=3)


class StatuspageProbe(_Model):
    """An Atlassian Statuspage (``<url>/api/v2/status.json``, ``components.json``):
    the overall indicator, and the status of the named ``components``."""

    kind: Literal["statuspage"] = "statuspage"
    url: HttpUrl
    components: list[str] = []
    timeout: Duration = timedelta(seconds=3)


class Condition(_Model):
    """``result <op> value`` for each sample of an instant query."""

    op: Literal[">", ">=", "<", "<=", "==", "!="]
    value: float


class PrometheusProbe(_Model):
    """An instant query against a Prometheus HTTP API (``<url>/api/v1/query``);
    failed when any sample meets ``failed_if``. ``{label}`` placeholders in the query
    are filled with the alert's values, escaped as PromQL string contents."""

    kind: Literal["prometheus"] = "prometheus"
    url: HttpUrl
    query: QueryTemplate
    failed_if: Condition
    timeout: Duration = timedelta(seconds=3)


class DeploysProbe(_Model):
    """The deploys recorded (``POST /api/v1/deploys``) for the incident's service
    (label ``service_label``) within ``window`` before the alert started."""

    kind: Literal["deploys"] = "deploys"
    window: Duration = timedelta(hours=2)
    service_label: str = "service"


class LinksProbe(_Model):
    """Links for the responder, built from the alert's labels (values URL-encoded)."""

    kind: Literal["links"] = "links"
    links: Annotated[dict[str, UrlTemplate], Field(min_length=1)]


def _kind_of(value: Any) -> str:
    # snapshots stored before kinds were written down are http probes
    if isinstance(value, dict):
        return str(value.get("kind", "http"))
    return str(getattr(value, "kind", "http"))


ProbeKind = Annotated[
    Annotated[HttpProbe, Tag("http")]
    | Annotated[TcpProbe, Tag("tcp")]
    | Annotated[DnsProbe, Tag("dns")]
    | Annotated[TlsProbe, Tag("tls")]
    | Annotated[RedisProbe, Tag("redis")]
    | Annotated[PostgresProbe, Tag("postgres")]
    | Annotated[StatuspageProbe, Tag("statuspage")]
    | Annotated[PrometheusProbe, Tag("prometheus")]
    | Annotated[DeploysProbe, Tag("deploys")]
    | Annotated[LinksProbe, Tag("links")],
    Discriminator(_kind_of),
]
"""Every probe kind, told apart by its ``kind`` (written into stored decisions)."""


class ProbeSpec(_Model):
    """A probe as written in a file: exactly one key naming its kind (``http:``)."""

    http: HttpProbe | None = None
    tcp: TcpProbe | None = None
    dns: DnsProbe | None = None
    tls: TlsProbe | None = None
    redis: RedisProbe | None = None
    postgres: PostgresProbe | None = None
    statuspage: StatuspageProbe | None = None
    prometheus: PrometheusProbe | None = None
    deploys: DeploysProbe | None = None
    links: LinksProbe | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ProbeSpec:
        kinds = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(kinds) != 1:
            choices = ", ".join(type(self).model_fields)
            raise invalid("probe", f"a probe needs exactly one of the keys: {choices}")
        return self

    @property
    def spec(self) -> ProbeKind:
        """The probe of the kind that is set."""
        found = next(getattr(self, n) for n in type(self).model_fields if getattr(self, n))
        assert found is not None  # _one_kind guarantees it
        return found  # type: ignore[no-any-return]


class Regrade(_Model):
    """A rule's second look, once its probes are in: ``severity`` when ``when`` holds.

    ``when``: ``any_failed`` (a probe of ``probes``, or of the rule if empty, did not
    come back ok), ``all_ok`` (every one of them came back ok)."""

    when: Literal["any_failed", "all_ok"]
    probes: list[str] = []
    severity: Literal["SEV-1", "SEV-2", "SEV-3", "SEV-4"]
