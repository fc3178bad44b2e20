"""Probe kinds, one module each, registered by kind (``rules.probes``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from workers.probes import (
    deploys,
    dns,
    http,
    links,
    postgres,
    prometheus,
    redis_probe,
    statuspage,
    tcp,
    tls,
)
from workers.probes.base import ProbeContext, ProbeResult

Runner = Callable[[str, Any, ProbeContext], Awaitable[ProbeResult]]

RUNNERS: dict[str, Runner] = {
    "http": http.run,
    "deploys": deploys.run,
    "links": links.run,
    "tcp": tcp.run,
    "dns": dns.run,
    "tls": tls.run,
    "statuspage": statuspage.run,
    "prometheus": prometheus.run,
    "redis": redis_probe.run,
    "postgres": postgres.run,
}
