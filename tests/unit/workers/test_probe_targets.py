"""Probe targets that take alert labels: filled safely, checked against the rule
file's probe_targets after resolution, metadata never reached; the http probe
against real local servers, and a forbidden target proven never connected to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from rules.probes import HttpProbe, ProbeTargets
from tests.support.page_receiver import PageReceiver, Reply
from workers.probes import http as http_probe
from workers.probes.base import Outcome, ProbeContext
from workers.probes.targets import MissingLabel, TargetRefused, fill, fill_url, resolve


def test_fill_url_keeps_the_shape_of_the_url() -> None:
    labels = {"instance": "10.0.0.7:9090", "path": "../admin?x=1#y", "svc": "check out"}
    assert fill_url("http://{instance}/health", labels) == "http://10.0.0.7:9090/health"
    assert (
        fill_url("https://logs.example/q?service={svc}&p={path}", labels)
        == "https://logs.example/q?service=check%20out&p=..%2Fadmin%3Fx%3D1%23y"
    )
    assert fill("{svc}.internal", labels) == "check out.internal"


@pytest.mark.parametrize(
    "instance",
    ["evil.example/@10.0.0.1", "a b", "x?y", "user@host", "host#frag", "[::1", "h:99999999"],
)
def test_a_label_cannot_reshape_the_host_part(instance: str) -> None:
    with pytest.raises(TargetRefused):
        fill_url("http://{instance}/health", {"instance": instance})


def test_a_missing_label_is_named() -> None:
    with pytest.raises(MissingLabel, match="no instance label"):
        fill_url("http://{instance}/health", {})


LOCAL = ProbeTargets(networks=["127.0.0.0/8"], ports=[])


async def test_templated_targets_need_probe_targets_and_stay_inside_them() -> None:
    with pytest.raises(TargetRefused, match="no probe_targets"):
        await resolve("127.0.0.1", 80, templated=True, targets=None)
    with pytest.raises(TargetRefused, match="not in probe_targets"):
        await resolve(
            "127.0.0.1", 80, templated=True, targets=ProbeTargets(networks=["10.0.0.0/8"])
        )
    with pytest.raises(TargetRefused, match="port 81"):
        await resolve(
            "127.0.0.1",
            81,
            templated=True,
            targets=ProbeTargets(networks=["127.0.0.0/8"], ports=[80]),
        )
    # a name is checked by what it resolves to, and connected to at that address
    target = await resolve("localhost", 80, templated=True, targets=LOCAL)
    assert target.address in ("127.0.0.1", "::1") and target.host == "localhost"
    by_glob = ProbeTargets(hosts=["*.host", "localhost"])
    assert (await resolve("LocalHost", 80, templated=True, targets=by_glob)).host == "localhost"
    # written out in full by the SRE: no probe_targets needed
    assert (await resolve("127.0.0.1", 80, templated=False, targets=None)).address == "127.0.0.1"


@pytest.mark.parametrize(
    "host",
    ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254", "100.100.100.200", "0.0.0.0"],
)
async def test_metadata_addresses_are_always_refused(host: str) -> None:
    everything = ProbeTargets(networks=["0.0.0.0/0", "::/0"])
    with pytest.raises(TargetRefused, match="refused"):
        await resolve(host, 80, templated=False, targets=None)
    with pytest.raises(TargetRefused, match="refused"):
        await resolve(host, 80, templated=True, targets=everything)


@dataclass
class Listener:
    port: int
    connections: int = 0


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    """A TCP listener that only counts who connects."""
    found = Listener(port=0)

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        found.connections += 1
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    try:
        yield found
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def site() -> Iterator[PageReceiver]:
    with PageReceiver() as receiver:
        yield receiver


async def probe(spec: dict[str, Any], labels: dict[str, str], targets: ProbeTargets | None) -> Any:
    async with httpx.AsyncClient(trust_env=False) as client:
        ctx = ProbeContext(labels=labels, http=client, targets=targets)
        return await http_probe.run("p", HttpProbe.model_validate(spec), ctx)


async def test_a_label_pointing_at_a_forbidden_address_makes_no_connection(
    listener: Listener,
) -> None:
    labels = {"instance": f"127.0.0.1:{listener.port}"}
    spec = {"url": "http://{instance}/health", "timeout": "1s"}
    refused = await probe(spec, labels, ProbeTargets(networks=["10.0.0.0/8"]))
    assert refused.outcome is Outcome.ERROR and "not in probe_targets" in refused.detail
    refused = await probe(spec, labels, None)
    assert refused.outcome is Outcome.ERROR
    await asyncio.sleep(0)  # let a connection, had one been made, be accepted
    assert listener.connections == 0
    # the control: allowed, the same probe does connect
    await probe(spec, labels, LOCAL)
    for _ in range(100):
        if listener.connections:
            break
        await asyncio.sleep(0.01)
    assert listener.connections == 1


async def test_http_probe_checks_status_json_and_latency(site: PageReceiver) -> None:
    site.respond("/health", 200, {"status": "ok", "checks": [{"db": "down"}]})
    site.respond("/slow", 204)
    labels = {"instance": f"127.0.0.1:{site.port}", "service": "checkout"}
    base = "http://{instance}"
    ok = await probe(
        {
            "url": base + "/health",
            "expect_status": "2xx",
            "json_field": {"path": "status", "equals": "ok"},
        },
        labels,
        LOCAL,
    )
    assert ok.outcome is Outcome.OK, ok.detail
    bad = await probe(
        {"url": base + "/health", "json_field": {"path": "checks.0.db", "equals": "up"}},
        labels,
        LOCAL,
    )
    assert bad.outcome is Outcome.FAILED and 'checks.0.db is "down"' in bad.detail
    wrong = await probe({"url": base + "/slow", "expect_status": "200-203"}, labels, LOCAL)
    assert wrong.outcome is Outcome.FAILED and "expected 200-203" in wrong.detail
    site.respond_sequence("/slow", [Reply(200, delay=0.3)])
    slow = await probe({"url": base + "/slow", "max_latency": "100ms"}, labels, LOCAL)
    assert slow.outcome is Outcome.FAILED and "over 100 ms" in slow.detail
    assert [r.headers["Host"] for r in site.requests("/health")][0] == f"127.0.0.1:{site.port}"


async def test_redirects_are_not_followed(site: PageReceiver, listener: Listener) -> None:
    site.respond("/moved", 302, b"", headers={"Location": f"http://127.0.0.1:{listener.port}/x"})
    result = await probe(
        {"url": f"http://127.0.0.1:{site.port}/moved", "expect_status": 200}, {}, None
    )
    assert result.outcome is Outcome.FAILED and "HTTP 302" in result.detail
    assert listener.connections == 0


def test_probe_timeout_default() -> None:
    assert HttpProbe.model_validate({"url": "http://h/"}).timeout == timedelta(seconds=2)


def test_every_probe_kind_of_the_rule_files_has_a_runner() -> None:
    from rules.probes import ProbeSpec
    from workers.probes import RUNNERS

    assert set(RUNNERS) == set(ProbeSpec.model_fields)
