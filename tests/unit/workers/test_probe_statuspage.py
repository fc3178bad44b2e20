"""The statuspage probe against a local aiohttp server that serves Statuspage API
documents (tests/fixtures/statuspage/, written from the public API's schema)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from rules.probes import StatuspageProbe
from workers.probes import statuspage
from workers.probes.base import Outcome, ProbeContext, ProbeResult

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "statuspage"


@dataclass
class Page:
    """A Statuspage stand-in: what each path answers, and the requests it saw."""

    port: int = 0
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    seen: list[web.Request] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def serve(self, path: str, fixture: str, status: int = 200) -> None:
        self.answers[path] = (status, (FIXTURES / fixture).read_bytes())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def page(aiohttp_server: Callable[[web.Application], Awaitable[Any]]) -> AsyncIterator[Page]:
    found = Page()

    async def answer(request: web.Request) -> web.StreamResponse:
        found.seen.append(request)
        if request.path in found.hang:
            await found.release.wait()  # until the test ends: a page that never answers
        status, body = found.answers.get(request.path, (404, b'{"error":"Not found"}'))
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    server = await aiohttp_server(app)
    found.port = server.port
    yield found
    found.release.set()


async def probe(spec: dict[str, Any]) -> ProbeResult:
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        ctx = ProbeContext(labels={"service": "checkout"}, http=client)
        return await statuspage.run("github", StatuspageProbe.model_validate(spec), ctx)


def test_the_api_documents_hang_off_the_page_url() -> None:
    for page_url in ("https://www.githubstatus.com", "https://www.githubstatus.com/"):
        assert (
            statuspage.api_url(page_url, "status.json")
            == "https://www.githubstatus.com/api/v2/status.json"
        )
    assert (
        statuspage.api_url("https://example.com/status/", "components.json")
        == "https://example.com/status/api/v2/components.json"
    )


async def test_all_systems_operational_is_ok(page: Page) -> None:
    page.serve("/api/v2/status.json", "status_operational.json")
    result = await probe({"url": page.url})
    assert (result.outcome, result.detail) == (Outcome.OK, "All Systems Operational")
    [request] = page.seen
    assert request.headers["Host"] == f"127.0.0.1:{page.port}"


async def test_an_incident_on_the_page_fails_with_its_indicator(page: Page) -> None:
    page.serve("/api/v2/status.json", "status_partial_outage.json")
    result = await probe({"url": page.url + "/"})
    assert (result.outcome, result.detail) == (Outcome.FAILED, "major: Partial System Outage")


async def test_named_components_are_reported_one_by_one(page: Page) -> None:
    page.serve("/api/v2/components.json", "components.json")
    down = await probe({"url": page.url, "components": ["Actions", "Git Operations"]})
    assert down.outcome is Outcome.FAILED
    assert down.detail == "Actions: partial_outage; Git Operations: operational"
    up = await probe({"url": page.url, "components": ["git operations", "Copilot Chat"]})
    assert up.outcome is Outcome.OK
    assert up.detail == "git operations: operational; Copilot Chat: operational"
    for name, status in [("Pages", "under_maintenance"), ("Codespaces", "major_outage")]:
        other = await probe({"url": page.url, "components": [name]})
        assert (other.outcome, other.detail) == (Outcome.FAILED, f"{name}: {status}")
    # only components.json was read: the overall indicator does not matter here
    assert {r.path for r in page.seen} == {"/api/v2/components.json"}


async def test_a_component_the_page_lacks_is_an_error_naming_what_it_has(page: Page) -> None:
    page.serve("/api/v2/components.json", "components.json")
    result = await probe({"url": page.url, "components": ["Actions", "Copilot Workspace"]})
    assert result.outcome is Outcome.ERROR
    assert result.detail.startswith("no component 'Copilot Workspace'; the page has: ")
    assert "Git Operations, Webhooks, API Requests, Actions" in result.detail


async def test_answers_that_are_not_statuspage_documents_fail(page: Page) -> None:
    page.answers["/api/v2/status.json"] = (200, b"<html><body>Maintenance</body></html>")
    not_json = await probe({"url": page.url})
    assert not_json.outcome is Outcome.FAILED
    assert not_json.detail.startswith("not a Statuspage status.json: Invalid JSON")
    page.answers["/api/v2/status.json"] = (200, b'{"page": {"name": "x"}, "status": {}}')
    no_indicator = await probe({"url": page.url})
    assert (no_indicator.outcome, no_indicator.detail) == (
        Outcome.FAILED,
        "not a Statuspage status.json: status.indicator: field required",
    )
    page.serve("/api/v2/status.json", "status_operational.json", status=503)
    unavailable = await probe({"url": page.url})
    assert unavailable.outcome is Outcome.FAILED
    assert unavailable.detail.startswith("HTTP 503 for status.json: {")
    missing = await probe({"url": page.url, "components": ["Actions"]})
    assert missing.outcome is Outcome.FAILED and missing.detail.startswith("HTTP 404")


async def test_the_answer_is_read_up_to_a_bound(page: Page) -> None:
    huge = b'{"status": {"indicator": "none", "description": "' + b"x" * (2 << 20) + b'"}}'
    page.answers["/api/v2/status.json"] = (200, huge)
    result = await probe({"url": page.url})
    assert result.outcome is Outcome.FAILED and "over 1048576 bytes" in result.detail


async def test_a_page_that_does_not_answer_times_out_within_the_timeout(page: Page) -> None:
    page.hang.add("/api/v2/status.json")
    started = time.perf_counter()
    result = await probe({"url": page.url, "timeout": "300ms"})
    assert result.outcome is Outcome.TIMEOUT and result.detail == "no answer within 0.3s"
    assert time.perf_counter() - started < 1.5
    assert len(page.seen) == 1


async def test_unreachable_pages_fail_and_metadata_addresses_are_never_probed(
    unused_tcp_port: int,
) -> None:
    closed = await probe({"url": f"http://127.0.0.1:{unused_tcp_port}"})
    assert closed.outcome is Outcome.FAILED and closed.detail.startswith("ConnectError")
    for url in ("http://169.254.169.254", "http://[fd00:ec2::254]/"):
        refused = await probe({"url": url})
        assert refused.outcome is Outcome.ERROR
        assert refused.detail.startswith("not probed: ") and "refused" in refused.detail
