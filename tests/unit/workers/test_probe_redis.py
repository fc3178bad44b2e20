"""The redis probe against a real Redis (the ``redis_url`` fixture), a TLS front
to it, a closed port, a listener that never answers, and bad environments."""

from __future__ import annotations

import asyncio
import datetime
import os
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rules.probes import RedisProbe
from tests.support.ports import free_port
from tests.support.silent import silent_listener
from workers.probes import redis_probe
from workers.probes.base import Outcome, ProbeContext, ProbeResult
from workers.probes.targets import resolve

ENV = "TRIAGED_TEST_PROBE_REDIS_URL"
PASSWORD = "s3cret-pa55word"


async def probe(timeout: str = "2s") -> ProbeResult:
    spec = RedisProbe.model_validate({"url_env": ENV, "timeout": timeout})
    async with httpx.AsyncClient(trust_env=False) as client:
        return await redis_probe.run(
            "cache", spec, ProbeContext(labels={}, http=client, environ=os.environ)
        )


def _address(redis_url: str) -> tuple[str, int]:
    parts = urlsplit(redis_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


async def test_a_healthy_redis_answers_pong_with_its_version(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, redis_url)
    found = await probe()
    assert found.outcome is Outcome.OK, found.detail
    assert found.detail.startswith("PONG in ") and " ms (redis " in found.detail


@pytest.fixture
def acl_user(redis_url: str) -> Iterator[str]:
    """A Redis user ``probe`` with PASSWORD, on the shared test server."""
    client = redis.Redis.from_url(redis_url)
    client.acl_setuser("probe", enabled=True, passwords=[f"+{PASSWORD}"], commands=["+@all"])
    try:
        yield "probe"
    finally:
        client.acl_deluser("probe")
        client.close()


async def test_a_wrong_password_fails_as_authentication_without_the_password(
    redis_url: str, acl_user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = _address(redis_url)
    monkeypatch.setenv(ENV, f"redis://{acl_user}:{PASSWORD}@{host}:{port}/0")
    assert (await probe()).outcome is Outcome.OK
    wrong = "not-" + PASSWORD
    monkeypatch.setenv(ENV, f"redis://{acl_user}:{wrong}@{host}:{port}/0")
    found = await probe()
    assert found.outcome is Outcome.FAILED
    assert found.detail.startswith(f"authentication failed at {host}:{port}")
    assert PASSWORD not in found.detail and wrong not in found.detail


async def test_a_closed_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(ENV, f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    found = await probe()
    assert found.outcome is Outcome.FAILED
    assert found.detail == f"connection refused by 127.0.0.1:{port}"


async def test_a_server_that_never_answers_times_out_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with silent_listener() as hung:
        monkeypatch.setenv(ENV, f"redis://127.0.0.1:{hung.port}/0")
        began = time.perf_counter()
        found = await probe(timeout="300ms")
        took = time.perf_counter() - began
        assert hung.connections == 1
    assert found.outcome is Outcome.TIMEOUT, found.detail
    assert found.detail == f"no answer from 127.0.0.1:{hung.port} within 0.3s"
    assert 0.25 <= took < 1.5


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, f"environment variable {ENV} is not set"),
        ("", f"environment variable {ENV} is not set"),
        (f"http://:{PASSWORD}@127.0.0.1:6379/", "is not redis:// or rediss://"),
        (f"unix:///tmp/redis.sock?password={PASSWORD}", "is not redis:// or rediss://"),
        (f"redis://:{PASSWORD}@127.0.0.1:port/0", "malformed"),
        (f"redis://:{PASSWORD}@/0", "has no host"),
        (f"redis://:{PASSWORD}@127.0.0.1/0?ssl_ca_certs=/x", "option ssl_ca_certs"),
        (f"redis://:{PASSWORD}@127.0.0.1/0?db=x", "option with a bad value"),
        (f"redis://:{PASSWORD}@169.254.169.254:6379/0", "refused"),
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


# --- rediss://: TLS to the checked address, the URL's name verified ---------------


@dataclass
class TlsFront:
    port: int
    ca_file: Path
    connections: int = 0


def _self_signed(name: str, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        # valid for the name only: checked against 127.0.0.1 it would not verify
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


@pytest.fixture
async def tls_front(redis_url: str, tmp_path: Path) -> AsyncIterator[TlsFront]:
    """TLS on localhost's address with a certificate for the name ``localhost`` only,
    piped to the real Redis."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed("localhost", key).public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    backend_host, backend_port = _address(redis_url)
    front = TlsFront(port=0, ca_file=tmp_path / "cert.pem")
    pipes: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        front.connections += 1
        backend_reader, backend_writer = await asyncio.open_connection(backend_host, backend_port)
        for task in (
            asyncio.create_task(pipe(reader, backend_writer)),
            asyncio.create_task(pipe(backend_reader, writer)),
        ):
            pipes.add(task)
            task.add_done_callback(pipes.discard)

    # where the probe will connect for "localhost" (127.0.0.1 or ::1, by the resolver)
    address = (await resolve("localhost", 0, templated=False, targets=None)).address
    server = await asyncio.start_server(serve, address, 0, ssl=context)
    front.port = server.sockets[0].getsockname()[1]
    try:
        yield front
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        await server.wait_closed()


async def test_rediss_verifies_the_urls_name_while_connecting_to_the_checked_address(
    tls_front: TlsFront, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"rediss://localhost:{tls_front.port}/0?ssl_ca_certs={tls_front.ca_file}"
    monkeypatch.setenv(ENV, url)
    found = await probe()
    assert found.outcome is Outcome.OK, found.detail
    assert tls_front.connections == 1


async def test_rediss_with_an_untrusted_certificate_fails(
    tls_front: TlsFront, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"rediss://:{PASSWORD}@localhost:{tls_front.port}/0")
    found = await probe()
    assert found.outcome is Outcome.FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in found.detail and PASSWORD not in found.detail
