"""The dns probe: ``name`` resolves through the system resolver (to one of
``expect`` when given).

Nothing is connected to, but a lookup still tells the resolver (and whoever runs
the zone) a name, so a name that takes alert labels (``{service}.svc.cluster.local``)
is looked up only when, filled in, it matches one of its file's
``probe_targets.hosts`` globs; ``networks`` cannot vouch for a name before it is
resolved. A lookup that does not come back within ``spec.timeout`` is abandoned
(the resolver's thread finishes on its own)."""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import re
import socket
import time

from rules.probes import DnsProbe, ProbeTargets
from workers.probes.base import Outcome, ProbeContext, ProbeResult, result
from workers.probes.targets import MissingLabel, TargetRefused, fill, takes_labels

SHOWN = 6  # addresses listed in the detail
_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,252})$")


def _checked(name: str, *, templated: bool, targets: ProbeTargets | None) -> str:
    """The name to look up (lower case); TargetRefused when it may not be."""
    name = name.rstrip(".").lower()
    if not _NAME.match(name):
        raise TargetRefused(f"{name[:60]!r} is not a host name")
    if not templated:
        return name
    if targets is None:
        raise TargetRefused("the name takes alert labels, but its rule file has no probe_targets")
    if not any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in targets.hosts):
        raise TargetRefused(f"{name} is not in probe_targets.hosts")
    return name


def _same(address: str, expected: str) -> bool:
    try:
        return ipaddress.ip_address(address) == ipaddress.ip_address(expected)
    except ValueError:
        return address == expected


def _listed(addresses: list[str]) -> str:
    more = len(addresses) - SHOWN
    return ", ".join(addresses[:SHOWN]) + (f" (+{more} more)" if more > 0 else "")


async def run(name: str, spec: DnsProbe, ctx: ProbeContext) -> ProbeResult:
    """Look ``spec.name`` up once, bounded by ``spec.timeout``; never raises for
    the answer."""
    started = time.perf_counter()
    timeout = spec.timeout.total_seconds()
    try:
        host = _checked(
            fill(spec.name, ctx.labels), templated=takes_labels(spec.name), targets=ctx.targets
        )
    except (MissingLabel, TargetRefused) as exc:
        return result(name, started, Outcome.ERROR, f"not probed: {exc}")
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM),
            timeout,
        )
    except TimeoutError:
        return result(name, started, Outcome.TIMEOUT, f"{host}: no answer within {timeout:g}s")
    except OSError as exc:  # socket.gaierror: NXDOMAIN, no address, SERVFAIL
        reason = exc.strerror or str(exc)
        return result(name, started, Outcome.FAILED, f"{host} does not resolve: {reason}")
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        return result(name, started, Outcome.FAILED, f"{host} does not resolve: no address")
    answer = f"{host} -> {_listed(addresses)}"
    if spec.expect and not any(_same(a, e) for a in addresses for e in spec.expect):
        expected = ", ".join(spec.expect)
        return result(name, started, Outcome.FAILED, f"{answer}, expected one of {expected}")
    return result(name, started, Outcome.OK, answer)
