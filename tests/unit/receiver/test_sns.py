"""SNS signatures and subscription handshakes, against real local HTTPS servers.

The test is its own certificate authority: an RSA key and self-signed certificate
sign the messages (as SNS would), another pair is the "wrong key", and a third is
the TLS identity of the local server (127.0.0.1) that serves the certificates and
answers the SubscribeURL. The verifier's allowlist is overridden to 127.0.0.1 and
that server's port; a decoy listener on another port counts every connection made
to it, so "refused without connecting" is observed, not assumed.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from receiver import sns
from receiver.sources import cloudwatch

NOW = datetime(2026, 3, 2, 10, 15, 31, tzinfo=UTC)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:cloudwatch-alarms"
FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "cloudwatch"

# --- the test's own PKI ---------------------------------------------------------


def _certificate(key: rsa.RSAPrivateKey, name: str, *, ip: str | None = None) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=1)
    if ip is not None:
        # the TLS server's certificate must be valid for the wall clock, too
        real_now = datetime.now(UTC)
        start, end = (
            min(start, real_now - timedelta(days=1)),
            max(end, real_now + timedelta(days=1)),
        )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        ).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        # what a strict verifier (Python 3.13's VERIFY_X509_STRICT) asks of a trust anchor
        public = key.public_key()
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public), critical=False
        ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Pki:
    signing_key: rsa.RSAPrivateKey
    signing_pem: bytes
    other_key: rsa.RSAPrivateKey
    other_pem: bytes
    tls_key_pem: bytes
    tls_cert_pem: bytes


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pki() -> Pki:
    signing, other, tls = _key(), _key(), _key()
    return Pki(
        signing_key=signing,
        signing_pem=_certificate(signing, "sns.test"),
        other_key=other,
        other_pem=_certificate(other, "other.test"),
        tls_key_pem=tls.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        tls_cert_pem=_certificate(tls, "127.0.0.1", ip="127.0.0.1"),
    )


# --- local servers ---------------------------------------------------------------


@dataclass
class Server:
    port: int
    hits: Counter[str]
    queries: list[dict[str, str]]

    def url(self, path: str, scheme: str = "https", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


@pytest.fixture
async def server(pki: Pki, tmp_path: Path) -> AsyncIterator[Server]:
    """HTTPS on 127.0.0.1: the certificates, and a SubscribeURL endpoint."""
    hits: Counter[str] = Counter()
    queries: list[dict[str, str]] = []

    async def serve(request: web.Request) -> web.Response:
        hits[request.path] += 1
        if request.path == "/signing.pem":
            return web.Response(body=pki.signing_pem)
        if request.path == "/other.pem":
            return web.Response(body=pki.other_pem)
        if request.path == "/big.pem":
            return web.Response(body=b"-" * 100_000)
        if request.path == "/broken.pem":
            return web.Response(status=503)
        if request.path == "/":
            queries.append(dict(request.query))
            return web.Response(body=b"<ConfirmSubscriptionResponse/>", content_type="text/xml")
        return web.Response(status=404)

    (tmp_path / "tls.pem").write_bytes(pki.tls_cert_pem)
    (tmp_path / "tls.key").write_bytes(pki.tls_key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls.pem", tmp_path / "tls.key")
    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Server(port=port, hits=hits, queries=queries)
    finally:
        await runner.cleanup()


@dataclass
class Decoy:
    port: int
    connections: int = 0


@pytest.fixture
async def decoy() -> AsyncIterator[Decoy]:
    """A listener on another port that only counts who connects."""
    found = Decoy(port=0)

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        found.connections += 1
        writer.close()

    listener = await asyncio.start_server(count, "127.0.0.1", 0)
    found.port = listener.sockets[0].getsockname()[1]
    try:
        yield found
    finally:
        listener.close()
        await listener.wait_closed()


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    yield port


@pytest.fixture
async def client(pki: Pki) -> AsyncIterator[httpx.AsyncClient]:
    trust = ssl.create_default_context(cadata=pki.tls_cert_pem.decode())
    async with httpx.AsyncClient(verify=trust) as http:
        yield http


def local_policy(*ports: int) -> sns.UrlPolicy:
    return sns.UrlPolicy(host_pattern=r"^127\.0\.0\.1$", ports=frozenset(ports))


@pytest.fixture
def verifier(client: httpx.AsyncClient, server: Server) -> sns.SnsVerifier:
    return sns.SnsVerifier(client=client, policy=local_policy(server.port))


# --- messages, signed the way AWS documents it ------------------------------------

NOTIFICATION_ORDER = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION_ORDER = [
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
]


def sign(
    fields: dict[str, str],
    key: rsa.RSAPrivateKey,
    cert_url: str,
    *,
    version: str = "2",
    at: datetime = NOW,
) -> dict[str, str]:
    """``fields`` signed by ``key``: each signed key present, as ``key\\nvalue\\n``."""
    out = fields | {
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
        "Timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
    }
    order = NOTIFICATION_ORDER if out["Type"] == "Notification" else CONFIRMATION_ORDER
    text = "".join(f"{k}\n{out[k]}\n" for k in order if k in out).encode()
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    out["Signature"] = base64.b64encode(key.sign(text, padding.PKCS1v15(), digest)).decode()
    return out


def fixture(case: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def notification(pki: Pki, server: Server, **kw: Any) -> dict[str, str]:
    return sign(fixture("notification_alarm"), pki.signing_key, server.url("/signing.pem"), **kw)


def confirmation(pki: Pki, server: Server, subscribe_url: str, **kw: Any) -> dict[str, str]:
    data = fixture("subscription_confirmation") | {"SubscribeURL": subscribe_url}
    return sign(data, pki.signing_key, server.url("/signing.pem"), **kw)


def subscribe_url(server: Server, topic: str = TOPIC, host: str = "127.0.0.1") -> str:
    query = httpx.QueryParams(
        {"Action": "ConfirmSubscription", "TopicArn": topic, "Token": "2336412f37fb"}
    )
    return f"https://{host}:{server.port}/?{query}"


# --- the string to sign -------------------------------------------------------------


def test_string_to_sign_follows_the_documented_order() -> None:
    fields = {
        "Type": "Notification",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
        "Timestamp": "2012-05-02T00:54:06.655Z",
        "Subject": "My First Message",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "Message": "Hello world!",
        "Signature": "ignored",
    }
    assert sns.string_to_sign(fields) == (
        b"Message\nHello world!\n"
        b"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        b"Subject\nMy First Message\n"
        b"Timestamp\n2012-05-02T00:54:06.655Z\n"
        b"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
        b"Type\nNotification\n"
    )
    del fields["Subject"]  # optional: left out entirely
    assert b"Subject" not in sns.string_to_sign(fields)


def test_confirmation_string_to_sign_covers_url_and_token() -> None:
    fields = {key: f"<{key}>" for key in CONFIRMATION_ORDER} | {
        "Type": "SubscriptionConfirmation",
        "Subject": "not signed",
        "SigningCertURL": "not signed",
    }
    text = sns.string_to_sign(fields).decode()
    assert text.split("\n")[0:-1:2] == CONFIRMATION_ORDER


# --- signatures -----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
async def test_valid_signature_passes(
    pki: Pki, server: Server, verifier: sns.SnsVerifier, version: str
) -> None:
    await verifier.verify(notification(pki, server, version=version), now=NOW)
    assert server.hits["/signing.pem"] == 1


async def test_a_confirmation_signature_passes_and_covers_the_token(
    pki: Pki, server: Server, verifier: sns.SnsVerifier
) -> None:
    message = confirmation(pki, server, subscribe_url(server))
    await verifier.verify(message, now=NOW)
    with pytest.raises(sns.SnsRejected, match="does not verify"):
        await verifier.verify(message | {"Token": "attacker"}, now=NOW)


async def test_the_adapters_fields_verify(
    pki: Pki, server: Server, verifier: sns.SnsVerifier
) -> None:
    """What ``cloudwatch.sns_message`` hands over is exactly what was signed."""
    payload = cloudwatch.Payload.model_validate(notification(pki, server))
    message = cloudwatch.sns_message(payload)
    assert message is not None
    await verifier.verify(message.fields, now=NOW)


@pytest.mark.parametrize("field", ["Message", "MessageId", "Subject", "TopicArn", "Type"])
async def test_tampered_message_is_rejected(
    pki: Pki, server: Server, verifier: sns.SnsVerifier, field: str
) -> None:
    message = notification(pki, server)
    tampered = "UnsubscribeConfirmation" if field == "Type" else message[field] + " "
    with pytest.raises(sns.SnsRejected):
        await verifier.verify(message | {field: tampered}, now=NOW)


async def test_signature_by_another_key_is_rejected(
    pki: Pki, server: Server, verifier: sns.SnsVerifier
) -> None:
    message = sign(fixture("notification_alarm"), pki.other_key, server.url("/signing.pem"))
    with pytest.raises(sns.SnsRejected, match="does not verify"):
        await verifier.verify(message, now=NOW)


async def test_another_certificate_does_not_verify_it_either(
    pki: Pki, server: Server, verifier: sns.SnsVerifier
) -> None:
    message = notification(pki, server) | {"SigningCertURL": server.url("/other.pem")}
    with pytest.raises(sns.SnsRejected, match="does not verify"):
        await verifier.verify(message, now=NOW)


@pytest.mark.parametrize(
    ("age", "reason"),
    [(timedelta(hours=2), "too old"), (timedelta(minutes=-30), "in the future")],
)
async def test_replayed_or_future_message_is_rejected_before_any_fetch(
    pki: Pki, server: Server, verifier: sns.SnsVerifier, age: timedelta, reason: str
) -> None:
    message = notification(pki, server, at=NOW - age)
    with pytest.raises(sns.SnsRejected, match=reason):
        await verifier.verify(message, now=NOW)
    assert sum(server.hits.values()) == 0


async def test_version_1_is_refused_when_2_is_required(
    pki: Pki, server: Server, client: httpx.AsyncClient
) -> None:
    strict = sns.SnsVerifier(client=client, policy=local_policy(server.port), require_v2=True)
    with pytest.raises(sns.SnsRejected, match="SHA1"):
        await strict.verify(notification(pki, server, version="1"), now=NOW)
    await strict.verify(notification(pki, server, version="2"), now=NOW)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"SignatureVersion": "3"}, "SignatureVersion"),
        ({"Signature": "not base64!"}, "base64"),
        ({"Signature": ""}, "missing"),
        ({"Timestamp": "yesterday"}, "Timestamp"),
        ({"Type": "Publish"}, "Type"),
    ],
)
async def test_malformed_fields_are_rejected(
    pki: Pki,
    server: Server,
    verifier: sns.SnsVerifier,
    changes: dict[str, str],
    reason: str,
) -> None:
    with pytest.raises(sns.SnsRejected, match=reason):
        await verifier.verify(notification(pki, server) | changes, now=NOW)
    assert sum(server.hits.values()) == 0


# --- where certificates may come from ---------------------------------------------------


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("https://localhost:{decoy}/signing.pem", "host"),
        ("https://127.0.0.1:{decoy}/signing.pem", "port"),
        ("http://127.0.0.1:{decoy}/signing.pem", "https"),
        ("https://127.0.0.1:{server}@localhost:{decoy}/signing.pem", "userinfo"),
    ],
)
async def test_certificate_url_off_the_allowlist_is_never_contacted(
    pki: Pki,
    server: Server,
    decoy: Decoy,
    verifier: sns.SnsVerifier,
    template: str,
    reason: str,
) -> None:
    url = template.format(decoy=decoy.port, server=server.port)
    message = sign(fixture("notification_alarm"), pki.signing_key, url)
    with pytest.raises(sns.SnsRejected, match=reason):
        await verifier.verify(message, now=NOW)
    await asyncio.sleep(0.05)  # a connection, had one been started, would land now
    assert decoy.connections == 0
    assert sum(server.hits.values()) == 0


async def test_the_decoy_does_see_connections(
    pki: Pki, decoy: Decoy, client: httpx.AsyncClient
) -> None:
    """The control for the test above: allowed, the decoy's port is contacted."""
    verifier = sns.SnsVerifier(client=client, policy=local_policy(decoy.port), timeout=2.0)
    url = f"https://127.0.0.1:{decoy.port}/signing.pem"
    with pytest.raises(sns.SnsRejected, match="fetch failed"):
        await verifier.verify(sign(fixture("notification_alarm"), pki.signing_key, url), now=NOW)
    assert decoy.connections == 1


async def test_the_default_allowlist_is_aws_only(pki: Pki, server: Server, decoy: Decoy) -> None:
    default = sns.SnsVerifier()  # production defaults: sns.<region>.amazonaws.com, 443
    try:
        message = sign(
            fixture("notification_alarm"), pki.signing_key, f"https://127.0.0.1:{decoy.port}/a.pem"
        )
        with pytest.raises(sns.SnsRejected, match="host"):
            await default.verify(message, now=NOW)
    finally:
        await default.aclose()
    assert decoy.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-1.amazonaws.com:443/SimpleNotificationService-abc.pem",
    ],
)
def test_aws_policy_accepts_sns_hosts(url: str) -> None:
    assert sns.AWS_SNS.check(url, pem=True).host.startswith("sns.")


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://user@sns.us-east-1.amazonaws.com/x.pem",
        "https://evil.example\\@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.txt",
        "https://sns.us-east-1.amazonaws.com\n/x.pem",
        "https://s3.amazonaws.com/x.pem",
        "//sns.us-east-1.amazonaws.com/x.pem",
        "",
    ],
)
def test_aws_policy_refuses_everything_else(url: str) -> None:
    with pytest.raises(sns.SnsRejected):
        sns.AWS_SNS.check(url, pem=True)


# --- fetching and caching ----------------------------------------------------------------


async def test_certificate_is_fetched_once_then_cached(
    pki: Pki, server: Server, verifier: sns.SnsVerifier
) -> None:
    await verifier.verify(notification(pki, server), now=NOW)
    await verifier.verify(notification(pki, server, version="1"), now=NOW)
    await verifier.verify(confirmation(pki, server, subscribe_url(server)), now=NOW)
    assert server.hits["/signing.pem"] == 1


async def test_expired_cache_entry_is_fetched_again(
    pki: Pki, server: Server, client: httpx.AsyncClient
) -> None:
    verifier = sns.SnsVerifier(client=client, policy=local_policy(server.port), cache_ttl=0)
    await verifier.verify(notification(pki, server), now=NOW)
    await verifier.verify(notification(pki, server), now=NOW)
    assert server.hits["/signing.pem"] == 2


async def test_certificate_outside_its_validity_is_rejected(
    pki: Pki, server: Server, verifier: sns.SnsVerifier
) -> None:
    later = NOW + timedelta(days=3)
    with pytest.raises(sns.SnsRejected, match="not valid now"):
        await verifier.verify(notification(pki, server, at=later), now=later)


@pytest.mark.parametrize(
    ("path", "reason", "retryable"),
    [
        ("/missing.pem", "404", False),
        ("/big.pem", "too large", False),
        ("/broken.pem", "503", True),
    ],
)
async def test_bad_certificate_answers_are_rejected(
    pki: Pki,
    server: Server,
    verifier: sns.SnsVerifier,
    path: str,
    reason: str,
    retryable: bool,
) -> None:
    message = sign(fixture("notification_alarm"), pki.signing_key, server.url(path))
    with pytest.raises(sns.SnsRejected, match=reason) as exc:
        await verifier.verify(message, now=NOW)
    assert exc.value.retryable is retryable
    # a failure is not cached
    with pytest.raises(sns.SnsRejected):
        await verifier.verify(message, now=NOW)
    assert server.hits[path] == 2


async def test_unreachable_certificate_host_is_retryable(
    pki: Pki, client: httpx.AsyncClient, dead_port: int
) -> None:
    verifier = sns.SnsVerifier(client=client, policy=local_policy(dead_port), timeout=2.0)
    message = sign(
        fixture("notification_alarm"), pki.signing_key, f"https://127.0.0.1:{dead_port}/s.pem"
    )
    with pytest.raises(sns.SnsRejected, match="fetch failed") as exc:
        await verifier.verify(message, now=NOW)
    assert exc.value.retryable


# --- the subscription handshake ----------------------------------------------------------


async def test_subscription_is_confirmed_for_a_configured_topic(
    pki: Pki, server: Server, client: httpx.AsyncClient
) -> None:
    message = confirmation(pki, server, subscribe_url(server))
    result = await sns.confirm_subscription(
        message, [TOPIC], client=client, policy=local_policy(server.port)
    )
    assert result.outcome is sns.ConfirmOutcome.CONFIRMED
    assert server.queries == [
        {"Action": "ConfirmSubscription", "TopicArn": TOPIC, "Token": "2336412f37fb"}
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("other_topic", "topic is not configured"),
        ("unsubscribe", "not a SubscriptionConfirmation"),
        ("url_for_another_topic", "another topic"),
        ("not_confirm_action", "not a ConfirmSubscription"),
    ],
)
async def test_subscription_is_refused_without_a_request(
    pki: Pki, server: Server, client: httpx.AsyncClient, change: str, reason: str
) -> None:
    message = confirmation(pki, server, subscribe_url(server))
    allowed = [TOPIC]
    if change == "other_topic":
        allowed = ["arn:aws:sns:eu-west-1:123456789012:something-else"]
    elif change == "unsubscribe":
        message["Type"] = "UnsubscribeConfirmation"
    elif change == "url_for_another_topic":
        message["SubscribeURL"] = subscribe_url(server, topic=TOPIC + "-other")
    else:
        message["SubscribeURL"] = subscribe_url(server).replace(
            "ConfirmSubscription", "Unsubscribe"
        )
    result = await sns.confirm_subscription(
        message, allowed, client=client, policy=local_policy(server.port)
    )
    assert result.outcome is sns.ConfirmOutcome.REFUSED
    assert reason in result.reason
    assert server.queries == []


async def test_subscribe_url_off_the_allowlist_is_never_contacted(
    pki: Pki, server: Server, decoy: Decoy, client: httpx.AsyncClient
) -> None:
    for url in (
        subscribe_url(server, host="localhost"),
        subscribe_url(server).replace(f":{server.port}", f":{decoy.port}"),
        subscribe_url(server).replace("https://", "http://"),
    ):
        message = confirmation(pki, server, url)
        result = await sns.confirm_subscription(
            message, [TOPIC], client=client, policy=local_policy(server.port)
        )
        assert result.outcome is sns.ConfirmOutcome.REFUSED
        assert result.reason.startswith("SubscribeURL")
    await asyncio.sleep(0.05)
    assert decoy.connections == 0
    assert server.queries == []


async def test_the_default_policy_confirms_only_at_aws(
    pki: Pki, server: Server, client: httpx.AsyncClient
) -> None:
    message = confirmation(pki, server, subscribe_url(server))
    result = await sns.confirm_subscription(message, [TOPIC], client=client)
    assert result.outcome is sns.ConfirmOutcome.REFUSED
    assert server.queries == []


async def test_a_failed_confirmation_says_so(
    pki: Pki, client: httpx.AsyncClient, dead_port: int
) -> None:
    url = f"https://127.0.0.1:{dead_port}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t"
    message = fixture("subscription_confirmation") | {"SubscribeURL": url}
    result = await sns.confirm_subscription(
        message, [TOPIC], client=client, policy=local_policy(dead_port), timeout=2.0
    )
    assert result.outcome is sns.ConfirmOutcome.FAILED
