"""The dns probe through the system resolver: ``localhost`` (from /etc/hosts)
resolves, a name under the reserved ``.invalid`` TLD does not, ``expect`` is
checked, a resolver that never answers is a timeout, and a name filled from
labels is looked up only inside probe_targets.hosts (proven by counting lookups).

The resolver itself cannot be swapped for a local server without editing
/etc/resolv.conf, so the "resolver hangs" and "no lookup made" cases wrap the
running loop's ``getaddrinfo``, which is what the probe calls."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from rules.probes import DnsProbe, ProbeTargets
from workers.probes import dns
from workers.probes.base import Outcome, ProbeContext, ProbeResult

CLUSTER = ProbeTargets(hosts=["*.svc.cluster.local", "localhost"])


async def probe(
    spec: dict[str, Any], labels: dict[str, str] | None = None, targets: ProbeTargets | None = None
) -> ProbeResult:
    async with httpx.AsyncClient(trust_env=False) as client:
        ctx = ProbeContext(labels=labels or {}, http=client, targets=targets)
        return await dns.run("dns", DnsProbe.model_validate(spec), ctx)


class Lookups:
    """Counts the lookups the probe makes (they still go to the real resolver)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        loop = asyncio.get_running_loop()
        real = loop.getaddrinfo

        async def counted(host: Any, *args: Any, **kwargs: Any) -> Any:
            self.names.append(host)
            return await real(host, *args, **kwargs)

        monkeypatch.setattr(loop, "getaddrinfo", counted)


async def test_a_name_that_resolves_is_ok_with_its_addresses() -> None:
    found = await probe({"name": "localhost"})
    assert found.outcome is Outcome.OK, found.detail
    assert found.detail == "localhost -> 127.0.0.1"


async def test_expect_is_met_by_any_of_the_answers() -> None:
    found = await probe({"name": "LocalHost.", "expect": ["10.0.0.1", "127.0.0.1"]})
    assert found.outcome is Outcome.OK, found.detail
    assert found.detail == "localhost -> 127.0.0.1"


async def test_an_unexpected_answer_fails_naming_both() -> None:
    found = await probe({"name": "localhost", "expect": ["10.0.0.1", "10.0.0.2"]})
    assert found.outcome is Outcome.FAILED
    assert found.detail == "localhost -> 127.0.0.1, expected one of 10.0.0.1, 10.0.0.2"


async def test_a_name_that_does_not_exist_fails() -> None:
    began = time.perf_counter()
    found = await probe({"name": "no-such-host.invalid", "timeout": "1s"})
    # a resolver that answers says NXDOMAIN (failed); an offline one may not
    # answer at all within the second (timeout): never ok, never past the bound
    assert found.outcome in (Outcome.FAILED, Outcome.TIMEOUT), found.detail
    if found.outcome is Outcome.FAILED:
        assert found.detail.startswith("no-such-host.invalid does not resolve: ")
    assert time.perf_counter() - began < 2


async def test_a_resolver_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    never = asyncio.Event()

    async def hang(*args: Any, **kwargs: Any) -> Any:
        await never.wait()

    monkeypatch.setattr(loop, "getaddrinfo", hang)
    began = time.perf_counter()
    found = await probe({"name": "localhost", "timeout": "200ms"})
    assert found.outcome is Outcome.TIMEOUT
    assert found.detail == "localhost: no answer within 0.2s"
    assert 0.15 <= time.perf_counter() - began < 1


async def test_a_name_from_labels_is_looked_up_inside_probe_targets_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups = Lookups(monkeypatch)
    found = await probe({"name": "{host}"}, {"host": "localhost"}, CLUSTER)
    assert found.outcome is Outcome.OK, found.detail
    assert lookups.names == ["localhost"]


@pytest.mark.parametrize(
    ("labels", "targets", "reason"),
    [
        ({"service": "checkout"}, CLUSTER, "checkout.internal is not in probe_targets.hosts"),
        ({"service": "checkout"}, ProbeTargets(networks=["0.0.0.0/0"]), "probe_targets.hosts"),
        ({"service": "checkout"}, None, "no probe_targets"),
        ({"service": "a b"}, CLUSTER, "is not a host name"),
        ({}, CLUSTER, "no service label"),
    ],
)
async def test_a_name_from_labels_outside_probe_targets_is_never_looked_up(
    monkeypatch: pytest.MonkeyPatch,
    labels: dict[str, str],
    targets: ProbeTargets | None,
    reason: str,
) -> None:
    lookups = Lookups(monkeypatch)
    found = await probe({"name": "{service}.internal"}, labels, targets)
    assert found.outcome is Outcome.ERROR
    assert found.detail.startswith("not probed: ") and reason in found.detail
    assert lookups.names == []


async def test_a_name_wholly_from_a_label_must_still_match_a_glob(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups = Lookups(monkeypatch)
    found = await probe({"name": "{service}"}, {"service": "evil.example"}, CLUSTER)
    assert found.outcome is Outcome.ERROR and "not in probe_targets.hosts" in found.detail
    assert lookups.names == []
