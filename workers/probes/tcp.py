"""The tcp probe: a connection to ``host``:``port`` completes (a database, cache
or broker is reachable), and is closed at once; nothing is sent.

The host or port may take alert labels (``host: "{instance}"``, ``port:
"{port}"``): then the target is checked against its file's ``probe_targets``
(``workers.probes.targets``) and the connection goes to the address that was
checked. A filled port must be a number from 1 to 65535."""

from __future__ import annotations

import asyncio
import time

from rules.probes import TcpProbe
from workers.probes.base import Outcome, ProbeContext, ProbeResult, result
from workers.probes.targets import (
    MissingLabel,
    TargetRefused,
    resolve_filled,
)


async def run(name: str, spec: TcpProbe, ctx: ProbeContext) -> ProbeResult:
    """Connect once, bounded by ``spec.timeout`` (lookup included); never raises
    for the target."""
    started = time.perf_counter()
    timeout = spec.timeout.total_seconds()
    try:
        target = await resolve_filled(spec.host, spec.port, ctx.labels, ctx.targets, timeout)
        port = target.port
    except (MissingLabel, TargetRefused) as exc:
        return result(name, started, Outcome.ERROR, f"not probed: {exc}")
    where = f"{target.host}:{port} ({target.address})"
    remaining = max(timeout - (time.perf_counter() - started), 0.001)
    connecting = time.perf_counter()
    try:
        transport, _ = await asyncio.wait_for(
            asyncio.get_running_loop().create_connection(asyncio.Protocol, target.address, port),
            remaining,
        )
    except TimeoutError:
        return result(name, started, Outcome.TIMEOUT, f"{where}: no connection within {timeout:g}s")
    except ConnectionRefusedError:
        return result(name, started, Outcome.FAILED, f"{where}: connection refused")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return result(name, started, Outcome.FAILED, f"{where}: {reason}")
    elapsed_ms = (time.perf_counter() - connecting) * 1000
    transport.close()
    return result(name, started, Outcome.OK, f"connected to {where} in {elapsed_ms:.0f} ms")
