"""The statuspage probe: an Atlassian Statuspage's overall indicator, or the status
of the components the SRE named.

    github: {statuspage: {url: "https://www.githubstatus.com", components: [Actions]}}

Without ``components``: ``GET <url>/api/v2/status.json``, ok when
``status.indicator`` is ``none`` (the page says "All Systems Operational").
With them: ``GET <url>/api/v2/components.json``, failed when a named component is
not ``operational`` (``degraded_performance``, ``partial_outage``,
``major_outage``, ``under_maintenance``), error when the page has no component of
that name. The URL is the SRE's, written out in full; it is still checked
(``workers.probes.targets.resolve``: metadata and link-local addresses refused)
and the request goes to the address that was checked, with the name as Host and
TLS SNI. At most ``MAX_BODY`` bytes of the answer are read.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from pydantic import BaseModel, ValidationError

from rules.probes import StatuspageProbe
from workers.probes.base import Outcome, ProbeContext, ProbeResult, result
from workers.probes.targets import TargetRefused, TooLarge, pinned_get

EXCERPT = 120
MAX_BODY = 1024 * 1024
OPERATIONAL = "operational"
LISTED = 12  # component names shown when a named one is missing


class _Status(BaseModel):
    indicator: str
    description: str = ""


class StatusDocument(BaseModel):
    """``/api/v2/status.json`` (only the fields the probe reads)."""

    status: _Status


class _Component(BaseModel):
    name: str
    status: str


class ComponentsDocument(BaseModel):
    """``/api/v2/components.json`` (only the fields the probe reads)."""

    components: list[_Component]


def api_url(page: str, document: str) -> str:
    """``<page>/api/v2/<document>``, whether or not the page URL ends in ``/``."""
    url = httpx.URL(page)
    return str(url.copy_with(path=url.path.rstrip("/") + f"/api/v2/{document}"))


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return str(first["msg"])
    where = ".".join(str(part) for part in first["loc"]) or "document"
    return f"{where}: {first['msg'].lower()}"


def _overall(doc: StatusDocument) -> tuple[Outcome, str]:
    indicator, description = doc.status.indicator, doc.status.description
    if indicator == "none":
        return Outcome.OK, description or "no incident (indicator none)"
    return Outcome.FAILED, f"{indicator}: {description or 'no description'}"


def _named(doc: ComponentsDocument, wanted: list[str]) -> tuple[Outcome, str]:
    by_name: dict[str, list[str]] = {}
    for component in doc.components:
        by_name.setdefault(component.name.strip().casefold(), []).append(component.status)
    missing = [name for name in wanted if name.strip().casefold() not in by_name]
    if missing:
        names = list(dict.fromkeys(c.name for c in doc.components))
        shown = ", ".join(names[:LISTED]) + (", ..." if len(names) > LISTED else "")
        absent = ", ".join(repr(name) for name in missing)
        return Outcome.ERROR, f"no component {absent}; the page has: {shown or 'none'}"
    lines, down = [], False
    for name in wanted:
        statuses = by_name[name.strip().casefold()]
        # the same name in two groups: the worse one counts
        status = next((s for s in statuses if s != OPERATIONAL), OPERATIONAL)
        down = down or status != OPERATIONAL
        lines.append(f"{name}: {status}")
    return (Outcome.FAILED if down else Outcome.OK), "; ".join(lines)


async def run(name: str, spec: StatuspageProbe, ctx: ProbeContext) -> ProbeResult:
    """Read the page once, bounded by ``spec.timeout``; never raises for the page."""
    started = time.perf_counter()
    timeout = spec.timeout.total_seconds()
    document = "components.json" if spec.components else "status.json"
    try:
        async with asyncio.timeout(timeout):
            status, body = await pinned_get(
                ctx.http, api_url(spec.url, document), ctx.targets, timeout, MAX_BODY
            )
    except TargetRefused as exc:
        return result(name, started, Outcome.ERROR, f"not probed: {exc}")
    except (TimeoutError, httpx.TimeoutException):
        return result(name, started, Outcome.TIMEOUT, f"no answer within {timeout:g}s")
    except TooLarge:
        return result(name, started, Outcome.FAILED, f"{document} is over {MAX_BODY} bytes")
    except httpx.HTTPError as exc:
        reason = str(exc)[:EXCERPT] or "unreachable"
        return result(name, started, Outcome.FAILED, f"{type(exc).__name__}: {reason}")
    if not 200 <= status < 300:
        excerpt = body[:EXCERPT].decode("utf-8", "replace")
        return result(name, started, Outcome.FAILED, f"HTTP {status} for {document}: {excerpt}")
    try:
        if spec.components:
            outcome, detail = _named(ComponentsDocument.model_validate_json(body), spec.components)
        else:
            outcome, detail = _overall(StatusDocument.model_validate_json(body))
    except ValidationError as exc:
        detail = f"not a Statuspage {document}: {_problem(exc)}"
        return result(name, started, Outcome.FAILED, detail)
    return result(name, started, outcome, detail)
