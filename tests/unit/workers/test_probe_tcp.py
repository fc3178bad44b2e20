"""The tcp probe against real local targets: a listener (ok), a closed port
(failed), a port whose connect never completes (timeout), and labels that point
outside probe_targets (error, and zero connections)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from rules.probes import ProbeTargets, TcpProbe
from tests.support.listeners import CountingListener, unanswered_port
from tests.support.ports import free_port
from workers.probes import tcp
from workers.probes.base import Outcome, ProbeContext, ProbeResult

LOCAL = ProbeTargets(networks=["127.0.0.0/8"])


async def probe(
    spec: dict[str, Any], labels: dict[str, str] | None = None, targets: ProbeTargets | None = None
) -> ProbeResult:
    async with httpx.AsyncClient(trust_env=False) as client:
        ctx = ProbeContext(labels=labels or {}, http=client, targets=targets)
        return await tcp.run("db", TcpProbe.model_validate(spec), ctx)


async def test_a_listening_port_is_ok_and_the_connection_is_closed() -> None:
    async with CountingListener() as door:
        found = await probe({"host": "127.0.0.1", "port": door.port})
        assert found.outcome is Outcome.OK, found.detail
        assert found.detail.startswith(f"connected to 127.0.0.1:{door.port} (127.0.0.1) in ")
        assert found.detail.endswith(" ms")
        assert await door.connected() == 1


async def test_a_name_is_connected_to_at_its_checked_address() -> None:
    async with CountingListener() as door:
        found = await probe({"host": "localhost", "port": door.port})
        assert found.outcome is Outcome.OK, found.detail
        assert f"localhost:{door.port} (127.0.0.1)" in found.detail


async def test_a_closed_port_is_refused() -> None:
    port = free_port()
    found = await probe({"host": "127.0.0.1", "port": port})
    assert found.outcome is Outcome.FAILED
    assert found.detail == f"127.0.0.1:{port} (127.0.0.1): connection refused"


async def test_a_connect_that_never_completes_times_out_within_the_timeout() -> None:
    with unanswered_port() as port:
        began = time.perf_counter()
        found = await probe({"host": "127.0.0.1", "port": port, "timeout": "300ms"})
        took = time.perf_counter() - began
    assert found.outcome is Outcome.TIMEOUT, found.detail
    assert "no connection within 0.3s" in found.detail
    assert 0.25 <= took < 1.5 and found.duration_s < 1.5


async def test_host_and_port_from_labels_inside_probe_targets() -> None:
    async with CountingListener() as door:
        labels = {"instance": "127.0.0.1", "port": str(door.port)}
        found = await probe({"host": "{instance}", "port": "{port}"}, labels, LOCAL)
        assert found.outcome is Outcome.OK, found.detail
        assert await door.connected() == 1


@pytest.mark.parametrize(
    ("targets", "reason"),
    [
        (ProbeTargets(networks=["10.0.0.0/8"]), "not in probe_targets"),
        (ProbeTargets(networks=["127.0.0.0/8"], ports=[5432]), "is not in probe_targets.ports"),
        (None, "no probe_targets"),
    ],
)
async def test_a_label_pointing_outside_probe_targets_makes_no_connection(
    targets: ProbeTargets | None, reason: str
) -> None:
    async with CountingListener() as door:
        labels = {"instance": "127.0.0.1", "port": str(door.port)}
        for spec in (
            {"host": "{instance}", "port": door.port},
            {"host": "127.0.0.1", "port": "{port}"},
        ):
            refused = await probe(spec, labels, targets)
            assert refused.outcome is Outcome.ERROR
            assert refused.detail.startswith("not probed: ") and reason in refused.detail
        await asyncio.sleep(0)  # let a connection, had one been made, be accepted
        assert door.connections == 0
        # the control: the same probe, allowed, does connect
        allowed = await probe({"host": "{instance}", "port": "{port}"}, labels, LOCAL)
        assert allowed.outcome is Outcome.OK, allowed.detail
        assert await door.connected() == 1


async def test_metadata_addresses_are_refused_even_when_written_out() -> None:
    found = await probe({"host": "169.254.169.254", "port": 80})
    assert found.outcome is Outcome.ERROR and "refused" in found.detail


@pytest.mark.parametrize("value", ["http", "0", "70000", "5432 ", "-1", "1e3"])
async def test_a_filled_port_must_be_a_port_number(value: str) -> None:
    found = await probe({"host": "127.0.0.1", "port": "{port}"}, {"port": value}, LOCAL)
    assert found.outcome is Outcome.ERROR
    assert "is not a number from 1 to 65535" in found.detail


async def test_a_missing_label_is_named() -> None:
    found = await probe({"host": "{instance}", "port": 5432}, {}, LOCAL)
    assert found.outcome is Outcome.ERROR
    assert found.detail == "not probed: the alert has no instance label"
