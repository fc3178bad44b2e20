"""The tls probe against a real local TLS server (asyncio, 127.0.0.1) serving
self-signed certificates made here: valid for 90 days (ok), expiring in 3 days
(failed, under min_days), expired (failed); a listener that never answers the
handshake (timeout), one that does not speak TLS (failed), and labels pointing
outside probe_targets (error, zero connections)."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rules.probes import ProbeTargets, TlsProbe
from tests.support.listeners import CountingListener
from tests.support.ports import free_port
from workers.probes import tls
from workers.probes.base import Outcome, ProbeContext, ProbeResult

LOCAL = ProbeTargets(networks=["127.0.0.0/8"])
HOUR = timedelta(hours=1)  # margin, so "N days" is N while the test runs


def certificate(directory: Path, not_after: datetime) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 valid until ``not_after``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    alt_names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - timedelta(days=365))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{cert.serial_number}.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Site:
    port: int
    server_names: list[str | None] = field(default_factory=list)  # SNI, per handshake


@asynccontextmanager
async def tls_site(directory: Path, not_after: datetime) -> AsyncIterator[Site]:
    """A TLS server on 127.0.0.1 that completes handshakes and then only listens."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate(directory, not_after))
    site = Site(port=0)

    def sni(_: ssl.SSLObject, server_name: str | None, __: ssl.SSLContext) -> None:
        site.server_names.append(server_name)

    context.sni_callback = sni

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(4096):
                pass
        except (ConnectionError, ssl.SSLError):
            pass  # the probe drops the connection once it has the certificate
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    site.port = server.sockets[0].getsockname()[1]
    try:
        yield site
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)


@asynccontextmanager
async def mute_site() -> AsyncIterator[Site]:
    """A TCP server on 127.0.0.1 that accepts and never says a word (no handshake)."""
    site = Site(port=0)
    accepted = asyncio.Event()

    async def listen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        try:
            while await reader.read(4096):
                pass
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(listen, "127.0.0.1", 0)
    site.port = server.sockets[0].getsockname()[1]
    try:
        yield site
        await asyncio.wait_for(accepted.wait(), 2)  # the probe did reach it
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)


async def probe(
    spec: dict[str, Any], labels: dict[str, str] | None = None, targets: ProbeTargets | None = None
) -> ProbeResult:
    async with httpx.AsyncClient(trust_env=False) as client:
        ctx = ProbeContext(labels=labels or {}, http=client, targets=targets)
        return await tls.run("cert", TlsProbe.model_validate(spec), ctx)


async def test_a_certificate_with_90_days_left_is_ok(tmp_path: Path) -> None:
    not_after = datetime.now(UTC) + timedelta(days=90) + HOUR
    async with tls_site(tmp_path, not_after) as site:
        found = await probe({"host": "localhost", "port": site.port})
    assert found.outcome is Outcome.OK, found.detail
    assert found.detail == f"expires in 90 days ({not_after.date().isoformat()})"
    assert site.server_names == ["localhost"]  # the host name went out as SNI


async def test_a_certificate_expiring_in_3_days_fails_under_min_days(tmp_path: Path) -> None:
    not_after = datetime.now(UTC) + timedelta(days=3) + HOUR
    async with tls_site(tmp_path, not_after) as site:
        found = await probe({"host": "127.0.0.1", "port": site.port})
        lenient = await probe({"host": "127.0.0.1", "port": site.port, "min_days": 3})
    assert found.outcome is Outcome.FAILED
    assert found.detail == f"expires in 3 days ({not_after.date().isoformat()}), under 14"
    assert lenient.outcome is Outcome.OK, lenient.detail


async def test_an_expired_certificate_fails(tmp_path: Path) -> None:
    not_after = datetime.now(UTC) - timedelta(days=5) - HOUR
    async with tls_site(tmp_path, not_after) as site:
        found = await probe({"host": "localhost", "port": site.port, "min_days": 0})
    assert found.outcome is Outcome.FAILED
    assert found.detail == f"expired 5 days ago ({not_after.date().isoformat()})"


async def test_a_handshake_that_never_comes_times_out_within_the_timeout() -> None:
    async with mute_site() as mute:
        began = time.perf_counter()
        found = await probe({"host": "127.0.0.1", "port": mute.port, "timeout": "300ms"})
        took = time.perf_counter() - began
    assert found.outcome is Outcome.TIMEOUT, found.detail
    assert found.detail == f"127.0.0.1:{mute.port} (127.0.0.1): no handshake within 0.3s"
    assert 0.25 <= took < 1.5


async def test_a_server_that_hangs_up_or_is_not_there_fails() -> None:
    async with CountingListener() as door:
        hung_up = await probe({"host": "127.0.0.1", "port": door.port})
    assert hung_up.outcome is Outcome.FAILED and "TLS handshake failed" in hung_up.detail
    port = free_port()
    refused = await probe({"host": "127.0.0.1", "port": port})
    assert refused.outcome is Outcome.FAILED
    assert refused.detail == f"127.0.0.1:{port} (127.0.0.1): connection refused"


@pytest.mark.parametrize(
    ("targets", "reason"),
    [(ProbeTargets(networks=["10.0.0.0/8"]), "not in probe_targets"), (None, "no probe_targets")],
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
        # the control: allowed, the same probe connects (and fails the handshake)
        allowed = await probe({"host": "{instance}", "port": "{port}"}, labels, LOCAL)
        assert allowed.outcome is Outcome.FAILED, allowed.detail
        assert await door.connected() == 1


async def test_labels_inside_probe_targets_reach_the_certificate(tmp_path: Path) -> None:
    not_after = datetime.now(UTC) + timedelta(days=90) + HOUR
    async with tls_site(tmp_path, not_after) as site:
        labels = {"instance": "localhost", "port": str(site.port)}
        found = await probe({"host": "{instance}", "port": "{port}"}, labels, LOCAL)
    assert found.outcome is Outcome.OK, found.detail
    assert site.server_names == ["localhost"]


@pytest.mark.parametrize("value", ["https", "0", "65536"])
async def test_a_filled_port_must_be_a_port_number(value: str) -> None:
    found = await probe({"host": "127.0.0.1", "port": "{port}"}, {"port": value}, LOCAL)
    assert found.outcome is Outcome.ERROR and "not a number from 1 to 65535" in found.detail


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("left", "outcome", "detail"),
    [
        (timedelta(days=14), Outcome.OK, "expires in 14 days (2026-03-15)"),
        (timedelta(days=14) - HOUR, Outcome.FAILED, "expires in 13 days (2026-03-15), under 14"),
        (timedelta(days=1, hours=2), Outcome.FAILED, "expires in 1 day (2026-03-02), under 14"),
        (-HOUR, Outcome.FAILED, "expired less than a day ago (2026-03-01)"),
        (-timedelta(days=30), Outcome.FAILED, "expired 30 days ago (2026-01-30)"),
    ],
)
def test_days_left_are_whole_days_rounded_down(
    left: timedelta, outcome: Outcome, detail: str
) -> None:
    assert tls.judge(NOW + left, 14, NOW) == (outcome, detail)
