"""The postgres probe without a server: a closed port, a listener that never
answers, and bad environments. tests/external/test_postgres_probe.py runs it
against a real PostgreSQL."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from rules.probes import PostgresProbe
from tests.support.ports import free_port
from tests.support.silent import silent_listener
from workers.probes import postgres
from workers.probes.base import Outcome, ProbeContext, ProbeResult

ENV = "TRIAGED_TEST_PROBE_PG_DSN"
PASSWORD = "s3cret-pa55word"


async def probe(timeout: str = "3s") -> ProbeResult:
    spec = PostgresProbe.model_validate({"dsn_env": ENV, "timeout": timeout})
    async with httpx.AsyncClient(trust_env=False) as client:
        return await postgres.run(
            "db", spec, ProbeContext(labels={}, http=client, environ=os.environ)
        )


async def test_a_closed_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(ENV, f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/app")
    found = await probe()
    assert found.outcome is Outcome.FAILED
    assert found.detail == f"connection refused by 127.0.0.1:{port}"


async def test_a_server_that_never_answers_times_out_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with silent_listener() as hung:
        dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{hung.port}/app?sslmode=disable"
        monkeypatch.setenv(ENV, dsn)
        began = time.perf_counter()
        found = await probe(timeout="300ms")
        took = time.perf_counter() - began
        assert hung.connections == 1
    assert found.outcome is Outcome.TIMEOUT, found.detail
    assert found.detail == f"no answer from 127.0.0.1:{hung.port} within 0.3s"
    assert 0.25 <= took < 1.5


async def test_a_server_that_never_answers_tls_times_out_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # sslmode=prefer (asyncpg's default) first asks for TLS: that wait is bounded too
    async with silent_listener() as hung:
        monkeypatch.setenv(ENV, f"postgresql://app:{PASSWORD}@127.0.0.1:{hung.port}/app")
        found = await probe(timeout="300ms")
    assert found.outcome is Outcome.TIMEOUT, found.detail
    assert found.duration_s < 1.5


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, f"environment variable {ENV} is not set"),
        ("  ", f"environment variable {ENV} is not set"),
        (f"mysql://app:{PASSWORD}@127.0.0.1/app", "is not postgresql://"),
        (f"postgresql://app:{PASSWORD}@127.0.0.1:port/app", "malformed"),
        (f"postgresql://app:{PASSWORD}@/app", "has no host"),
        (f"postgresql://app:{PASSWORD}@%2Frun%2Fpostgresql/app", "unix socket"),
        (f"postgresql://app:{PASSWORD}@db1:5432,db2:5432/app", "several hosts"),
        (f"postgresql://app:{PASSWORD}@127.0.0.1/app?host=10.0.0.1", "in its query"),
        (f"postgresql://app:{PASSWORD}@127.0.0.1/app?sslmode=verify-full", "verify-ca"),
        (f"postgresql://app:{PASSWORD}@169.254.169.254:5432/app", "refused"),
    ],
)
async def test_an_unusable_environment_is_an_error_without_connecting(
    value: str | None, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, value)
    found = await probe()
    assert found.outcome is Outcome.ERROR
    assert found.detail.startswith("not probed: ") and reason in found.detail
    assert PASSWORD not in found.detail


async def test_a_bad_sslmode_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async with silent_listener() as hung:
        dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{hung.port}/app?sslmode=sometimes"
        monkeypatch.setenv(ENV, dsn)
        found = await probe()
        assert hung.connections == 0
    assert found.outcome is Outcome.ERROR, found.detail
    assert "sslmode" in found.detail and PASSWORD not in found.detail
