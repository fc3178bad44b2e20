"""The deploys probe: what was deployed to the incident's service shortly before the
alert started (recorded by CI/CD pipelines through ``POST /api/v1/deploys``)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from receiver.incidents import keys
from rules.probes import DeploysProbe
from workers.probes.base import Outcome, ProbeContext, ProbeResult, result

SHOWN = 3  # deploys named in the page line; the timeline keeps the count


def recorded_deploys(
    redis: Redis, service: str, since: float, until: float
) -> list[dict[str, Any]]:
    """The deploys of ``service`` between two times (Unix seconds), newest first."""
    raw = redis.zrevrangebyscore(keys.deploys(service), until, since, start=0, num=50)
    out = []
    for item in raw:  # type: ignore[union-attr]
        try:
            out.append(json.loads(item))
        except ValueError:
            continue
    return out


def _line(deploy: dict[str, Any]) -> str:
    at = datetime.fromtimestamp(float(deploy.get("at", 0)), UTC).strftime("%H:%M")
    parts = [str(deploy.get("version", "?")), f"at {at}"]
    if deploy.get("who"):
        parts.append(f"by {deploy['who']}")
    if deploy.get("environment"):
        parts.append(f"({deploy['environment']})")
    if deploy.get("link"):
        parts.append(str(deploy["link"]))
    return " ".join(parts)


async def run(name: str, spec: DeploysProbe, ctx: ProbeContext) -> ProbeResult:
    """Lists the service's deploys within ``spec.window`` before the alert started.
    Outcome ``failed`` when there are any (a change is the first suspect), ``ok``
    when there are none."""
    started = time.perf_counter()
    service = ctx.labels.get(spec.service_label)
    if not service:
        return result(name, started, Outcome.ERROR, f"the alert has no {spec.service_label} label")
    if ctx.deploys is None:
        return result(name, started, Outcome.ERROR, "no deploy records in this worker")
    began = (ctx.alert_started or datetime.now(UTC)).timestamp()
    window = spec.window.total_seconds()
    found = await ctx.deploys(service, began - window, began + 60)
    if not found:
        return result(
            name, started, Outcome.OK, f"no deploys of {service} in the {spec.window} before"
        )
    shown = "; ".join(_line(d) for d in found[:SHOWN])
    more = f" (+{len(found) - SHOWN} more)" if len(found) > SHOWN else ""
    return result(
        name, started, Outcome.FAILED, f"{len(found)} deploy(s) of {service}: {shown}{more}"
    )
