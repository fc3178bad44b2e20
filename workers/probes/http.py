"""The http probe: status (or range), body substring or JSON field, latency.

The URL may take alert labels (``http://{instance}/health``): then the host is
checked against its file's ``probe_targets`` (``workers.probes.targets``) and the
request goes to the address that was checked, with the name as Host and TLS SNI.
Redirects are never followed."""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

import httpx

from rules.probes import HttpProbe
from workers.probes.base import Outcome, ProbeContext, ProbeResult, result
from workers.probes.targets import MissingLabel, TargetRefused, fill_url, resolve, split_url

EXCERPT = 120
MAX_BODY = 256 * 1024


def _json_at(data: Any, path: str) -> Any:
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(path)
    return node


async def run(name: str, spec: HttpProbe, ctx: ProbeContext) -> ProbeResult:
    """Request ``spec.url`` once, bounded by ``spec.timeout``; never raises for the target."""
    started = time.perf_counter()
    timeout = spec.timeout.total_seconds()
    try:
        url = fill_url(spec.url, ctx.labels)
        scheme, host, port = split_url(url)
        target = await resolve(
            host, port, templated=url != spec.url, targets=ctx.targets, timeout=timeout
        )
    except (MissingLabel, TargetRefused) as exc:
        return result(name, started, Outcome.ERROR, f"not probed: {exc}")
    address = target.address
    if ipaddress.ip_address(address).version == 6:
        address = f"[{address}]"
    pinned = httpx.URL(url).copy_with(host=address.strip("[]"))
    headers = {"Host": host if port in (80, 443) else f"{host}:{port}"}
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    try:
        response = await ctx.http.request(
            spec.method,
            pinned,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            extensions=extensions,
        )
    except httpx.TimeoutException:
        return result(name, started, Outcome.TIMEOUT, f"no answer within {timeout:g}s")
    except httpx.HTTPError as exc:
        return result(
            name,
            started,
            Outcome.FAILED,
            f"{type(exc).__name__}: {str(exc)[:EXCERPT] or 'unreachable'}",
        )
    elapsed = time.perf_counter() - started
    body = response.content[:MAX_BODY].decode("utf-8", "replace")
    excerpt = body[:EXCERPT]
    status = response.status_code
    want = spec.expect_status
    if want is not None and not want.low <= status <= want.high:
        expected = str(want.low) if want.low == want.high else f"{want.low}-{want.high}"
        return result(
            name, started, Outcome.FAILED, f"HTTP {status}, expected {expected}: {excerpt}"
        )
    if want is None and not 200 <= status < 400:
        return result(name, started, Outcome.FAILED, f"HTTP {status}: {excerpt}")
    if spec.body_contains is not None and spec.body_contains not in body:
        return result(
            name, started, Outcome.FAILED, f"HTTP {status}, body lacks {spec.body_contains!r}"
        )
    if spec.json_field is not None:
        check = spec.json_field
        try:
            found = _json_at(json.loads(body), check.path)
        except (ValueError, KeyError):
            return result(
                name, started, Outcome.FAILED, f"HTTP {status}, no JSON field {check.path}"
            )
        if found != check.equals:
            got, expected = json.dumps(found)[:60], json.dumps(check.equals)
            detail = f"HTTP {status}, {check.path} is {got}, expected {expected}"
            return result(name, started, Outcome.FAILED, detail)
    if spec.max_latency is not None and elapsed > spec.max_latency.total_seconds():
        limit = spec.max_latency.total_seconds() * 1000
        return result(
            name,
            started,
            Outcome.FAILED,
            f"HTTP {status} in {elapsed * 1000:.0f} ms, over {limit:.0f} ms",
        )
    return result(name, started, Outcome.OK, f"HTTP {status}: {excerpt}")
