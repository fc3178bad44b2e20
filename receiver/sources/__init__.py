"""One adapter per sender, registered explicitly: an unknown source is a 404.

An adapter is pure: a pydantic payload model plus ``to_alerts(payload) -> list[Alert]``.
No I/O, no settings, no store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from receiver.model import Alert
from receiver.sources import (
    alertmanager,
    azure_monitor,
    cloudwatch,
    datadog,
    gcp_monitoring,
    generic,
    grafana,
    kibana,
    newrelic,
    sentry,
    uptime_kuma,
    zabbix,
)
from receiver.sources.mapped import MappedSource
from rules.sources import SourceConfig

JSON = frozenset({"application/json"})


@dataclass(frozen=True)
class Source:
    """A sender: how to validate its payload and turn it into alerts.

    ``content_types``: what its posts may be declared as (SNS sends text/plain).
    ``truncated``: how many alerts the sender left out of a payload (``max_alerts``)."""

    name: str
    payload: type[BaseModel]
    to_alerts: Callable[[Any], list[Alert]]
    content_types: frozenset[str] = JSON
    truncated: Callable[[Any], int] | None = None


SOURCES: dict[str, Source] = {
    "alertmanager": Source(
        "alertmanager",
        alertmanager.Payload,
        alertmanager.to_alerts,
        truncated=lambda p: int(p.truncatedAlerts),
    ),
    "generic": Source("generic", generic.Payload, generic.to_alerts),
    "grafana": Source(
        "grafana", grafana.Payload, grafana.to_alerts, truncated=lambda p: int(p.truncatedAlerts)
    ),
    "gcp-monitoring": Source("gcp-monitoring", gcp_monitoring.Payload, gcp_monitoring.to_alerts),
    "uptime-kuma": Source("uptime-kuma", uptime_kuma.Payload, uptime_kuma.to_alerts),
    "zabbix": Source("zabbix", zabbix.Payload, zabbix.to_alerts),
    "sentry": Source("sentry", sentry.Payload, sentry.to_alerts),
    "kibana": Source("kibana", kibana.Payload, kibana.to_alerts),
    "azure-monitor": Source("azure-monitor", azure_monitor.Payload, azure_monitor.to_alerts),
    "datadog": Source("datadog", datadog.Payload, datadog.to_alerts),
    "newrelic": Source("newrelic", newrelic.Payload, newrelic.to_alerts),
    "cloudwatch": Source(
        "cloudwatch",
        cloudwatch.Payload,
        cloudwatch.to_alerts,
        # SNS posts text/plain; raw message delivery may be set to either
        content_types=frozenset({"text/plain", "application/json"}),
    ),
}


def sources_for(configs: Mapping[str, SourceConfig]) -> dict[str, Source]:
    """The adapters, and a source per ``mapping`` the rule files configure."""
    out = dict(SOURCES)
    for name, config in configs.items():
        if config.mapping is not None and name not in out:
            mapped = MappedSource(name, config.mapping)
            out[name] = Source(name, mapped.payload, mapped.to_alerts)
    return out
