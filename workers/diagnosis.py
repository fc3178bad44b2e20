"""Run an incident's probes concurrently, each bounded by its own timeout, reporting
each result the moment it is known (the first page does not wait for this job: it
goes out when the diagnosis is done or the severity's budget ends, whichever first)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx

from rules.engine import NamedProbe
from workers.context import tls_context
from workers.probes import RUNNERS
from workers.probes.base import Outcome, ProbeContext, ProbeResult

# Beyond its own timeout, a probe gets this long before it counts as hung.
SLACK_S = 0.5
DEFAULT_TIMEOUT_S = 5.0  # a probe kind without a timeout of its own (links, deploys)


async def _run_one(probe: NamedProbe, base: ProbeContext) -> ProbeResult:
    started = time.perf_counter()
    spec = probe.spec
    runner = RUNNERS.get(spec.kind)
    try:
        if runner is None:
            raise NotImplementedError(f"no {spec.kind} probe in this worker")
        ctx = replace(base, targets=probe.targets)
        async with asyncio.timeout(_timeout_s(spec) + SLACK_S):
            return await runner(probe.name, spec, ctx)
    except TimeoutError:
        detail = "no answer within its timeout"
        outcome = Outcome.TIMEOUT
    except Exception as exc:  # a probe bug must not lose the diagnosis of the others
        detail, outcome = f"probe crashed: {type(exc).__name__}: {exc}"[:200], Outcome.ERROR
    return ProbeResult(
        name=probe.name, outcome=outcome, detail=detail, duration_s=time.perf_counter() - started
    )


def _timeout_s(spec: Any) -> float:
    timeout = getattr(spec, "timeout", None)
    return timeout.total_seconds() if timeout is not None else DEFAULT_TIMEOUT_S


async def _run_all(
    probes: Sequence[NamedProbe], report: Callable[[ProbeResult], None], setting: Setting
) -> list[ProbeResult]:
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, verify=tls_context()
    ) as client:
        base = ProbeContext(
            labels=setting.labels,
            http=client,
            alert_started=setting.alert_started,
            deploys=setting.deploys,
            environ=setting.environ,
        )
        results = []
        for finished in asyncio.as_completed([_run_one(p, base) for p in probes]):
            result = await finished
            report(result)
            results.append(result)
        return results


@dataclass(frozen=True)
class Setting:
    """What the probes of one incident are run with (see ProbeContext)."""

    labels: Mapping[str, str] = field(default_factory=dict)
    alert_started: datetime | None = None
    deploys: Callable[[str, float, float], Awaitable[list[dict[str, Any]]]] | None = None
    environ: Mapping[str, str] = field(default_factory=dict)


def diagnose(
    probes: Sequence[NamedProbe],
    report: Callable[[ProbeResult], None],
    setting: Setting | None = None,
) -> list[ProbeResult]:
    """Run every probe; call ``report`` with each result as it finishes."""
    if not probes:
        return []
    setting = setting or Setting()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_run_all(probes, report, setting))
    # called from inside an event loop (an in-process worker): run on a thread of its own
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _run_all(probes, report, setting)).result()


def pending(probe: NamedProbe, budget_s: float) -> ProbeResult:
    """The line for a probe still running when the page goes out."""
    return ProbeResult(
        name=probe.name,
        outcome=Outcome.PENDING,
        detail=f"still running after the {budget_s:g}s diagnosis budget; paged without it",
        duration_s=budget_s,
    )
