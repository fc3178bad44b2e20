"""Run an incident's probes concurrently, each bounded by its own timeout, reporting
each result the moment it is known (the first page does not wait for this job: it
goes out when the diagnosis is done or the severity's budget ends, whichever first)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from rules.engine import NamedProbe
from workers.context import tls_context
from workers.probes import http
from workers.probes.base import Outcome, ProbeResult

# Beyond its own timeout, a probe gets this long before it counts as hung.
SLACK_S = 0.5


async def _run_one(probe: NamedProbe, client: httpx.AsyncClient) -> ProbeResult:
    started = time.perf_counter()
    try:
        spec = probe.spec
        async with asyncio.timeout(spec.timeout.total_seconds() + SLACK_S):
            return await http.run(probe.name, spec, client)
    except TimeoutError:
        detail = "no answer within its timeout"
        outcome = Outcome.TIMEOUT
    except Exception as exc:  # a probe bug must not lose the diagnosis of the others
        detail, outcome = f"probe crashed: {type(exc).__name__}: {exc}"[:200], Outcome.ERROR
    return ProbeResult(
        name=probe.name, outcome=outcome, detail=detail, duration_s=time.perf_counter() - started
    )


async def _run_all(
    probes: Sequence[NamedProbe], report: Callable[[ProbeResult], None]
) -> list[ProbeResult]:
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, verify=tls_context()
    ) as client:
        results = []
        for finished in asyncio.as_completed([_run_one(p, client) for p in probes]):
            result = await finished
            report(result)
            results.append(result)
        return results


def diagnose(
    probes: Sequence[NamedProbe], report: Callable[[ProbeResult], None]
) -> list[ProbeResult]:
    """Run every probe; call ``report`` with each result as it finishes."""
    if not probes:
        return []
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_run_all(probes, report))
    # called from inside an event loop (an in-process worker): run on a thread of its own
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _run_all(probes, report)).result()


def pending(probe: NamedProbe, budget_s: float) -> ProbeResult:
    """The line for a probe still running when the page goes out."""
    return ProbeResult(
        name=probe.name,
        outcome=Outcome.PENDING,
        detail=f"still running after the {budget_s:g}s diagnosis budget; paged without it",
        duration_s=budget_s,
    )
