"""The http probe: status (or 2xx/3xx), optional body substring, latency."""

from __future__ import annotations

import time

import httpx

from rules.schema import HttpProbe
from workers.probes.base import Outcome, ProbeResult

EXCERPT = 120


async def run(name: str, spec: HttpProbe, client: httpx.AsyncClient) -> ProbeResult:
    """Request ``spec.url`` once, bounded by ``spec.timeout``; never raises for the target."""
    started = time.perf_counter()
    timeout = spec.timeout.total_seconds()

    def done(outcome: Outcome, detail: str) -> ProbeResult:
        return ProbeResult(
            name=name, outcome=outcome, detail=detail, duration_s=time.perf_counter() - started
        )

    try:
        response = await client.request(
            spec.method, str(spec.url), timeout=httpx.Timeout(timeout), follow_redirects=False
        )
    except httpx.TimeoutException:
        return done(Outcome.TIMEOUT, f"no answer within {timeout:g}s")
    except httpx.HTTPError as exc:
        return done(Outcome.FAILED, f"{type(exc).__name__}: {str(exc)[:EXCERPT] or 'unreachable'}")
    excerpt = response.text[:EXCERPT].replace("\n", " ")
    status = response.status_code
    if spec.expect_status is not None and status != spec.expect_status:
        return done(Outcome.FAILED, f"HTTP {status}, expected {spec.expect_status}: {excerpt}")
    if spec.expect_status is None and not 200 <= status < 400:
        return done(Outcome.FAILED, f"HTTP {status}: {excerpt}")
    if spec.body_contains is not None and spec.body_contains not in response.text:
        return done(Outcome.FAILED, f"HTTP {status}, body lacks {spec.body_contains!r}")
    return done(Outcome.OK, f"HTTP {status}: {excerpt}")
