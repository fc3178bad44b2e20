"""The links probe: dashboard, log-query and trace links built from the alert's
labels (values URL-encoded, a label in a host part only as a plain host[:port]),
for the responder; nothing is fetched."""

from __future__ import annotations

import time

from rules.probes import LinksProbe
from workers.probes.base import Outcome, ProbeContext, ProbeResult, result
from workers.probes.targets import MissingLabel, TargetRefused, fill_url


async def run(name: str, spec: LinksProbe, ctx: ProbeContext) -> ProbeResult:
    started = time.perf_counter()
    lines, missing = [], []
    for title, template in spec.links.items():
        try:
            lines.append(f"{title}: {fill_url(template, ctx.labels)}")
        except (MissingLabel, TargetRefused) as exc:
            missing.append(f"{title} ({exc})")
    if not lines:
        return result(name, started, Outcome.ERROR, "no link could be built: " + "; ".join(missing))
    detail = " | ".join(lines) + (f" | not built: {'; '.join(missing)}" if missing else "")
    return ProbeResult(
        name=name,
        outcome=Outcome.OK,
        detail=detail[:2000],
        duration_s=time.perf_counter() - started,
    )
