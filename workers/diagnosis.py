"""Run an incident's probes concurrently, within the severity's diagnosis budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from rules.engine import NamedProbe
from workers.probes import http
from workers.probes.base import Outcome, ProbeResult


async def _run_one(probe: NamedProbe, client: httpx.AsyncClient) -> ProbeResult:
    started = time.perf_counter()
    try:
        spec = probe.spec
        async with asyncio.timeout(spec.timeout.total_seconds() + 0.5):
            return await http.run(probe.name, spec, client)
    except TimeoutError:
        detail = "no answer within its timeout"
        outcome = Outcome.TIMEOUT
    except Exception as exc:  # a probe bug must not lose the page
        detail, outcome = f"probe crashed: {type(exc).__name__}: {exc}"[:200], Outcome.ERROR
    return ProbeResult(
        name=probe.name, outcome=outcome, detail=detail, duration_s=time.perf_counter() - started
    )


async def _run_all(probes: Sequence[NamedProbe], budget: float) -> list[ProbeResult]:
    started = time.perf_counter()
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        tasks = [asyncio.create_task(_run_one(p, client)) for p in probes]
        await asyncio.wait(tasks, timeout=budget)
        results = []
        for probe, task in zip(probes, tasks, strict=True):
            if task.done():
                results.append(task.result())
                continue
            task.cancel()
            results.append(
                ProbeResult(
                    name=probe.name,
                    outcome=Outcome.TIMEOUT,
                    detail=f"still running after the {budget:g}s diagnosis budget; "
                    "paged without it",
                    duration_s=time.perf_counter() - started,
                )
            )
        return results


def diagnose(probes: Sequence[NamedProbe], budget: float) -> list[ProbeResult]:
    """Return one result per probe, in declaration order, after at most ``budget`` s."""
    if not probes:
        return []
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_run_all(probes, budget))
    # called from inside an event loop (an in-process worker): run on a thread of its own
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _run_all(probes, budget)).result()
