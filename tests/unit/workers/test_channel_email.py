"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1: plain
delivery and the message it carries; STARTTLS with a self-signed certificate made
here (trusted through ``ssl_context``; the default context refuses it) and AUTH
required after TLS; a wrong password, 451 and 550 replies, a partial refusal, a
closed port, a server that never greets or never answers DATA; alert text that
tries to add a header or end DATA early; and no password in any raised message."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rules.channels import EmailChannel
from tests.support.listeners import unanswered_port
from tests.support.ports import free_port
from workers.channels import email as channel
from workers.channels.base import PermanentSendError, RetryableSendError
from workers.page import Page

KEY = "inc-7f3a-g1-c0-s1-alice-2"
PASSWORD = "s3cret-Pa55"
TO = ["alice@example.com", "oncall@example.com"]


def page(summary: str = "disk full on db-1", detail: str = "93% used") -> Page:
    return Page(
        incident_id="inc-7f3a",
        severity="SEV-1",
        summary=summary,
        labels={"alertname": "DiskFull", "instance": "db-1"},
        diagnosis=[{"name": "disk", "outcome": "failed", "detail": detail, "duration_s": 0.012}],
        escalation_step=1,
        ack_url="https://triaged.example/ack/inc-7f3a?t=abc",
        contact="alice",
        role="Primary on-call engineer",
        status="open",
        rule="disk",
        why="rule disk: alertname=DiskFull",
        created_at="2025-01-01T00:00:00+00:00",
        reason="escalation step 1",
    )


def spec(port: int, **smtp: Any) -> EmailChannel:
    settings = {"host": "127.0.0.1", "port": port, "starttls": False, **smtp}
    timeout = settings.pop("timeout", "5s")
    return EmailChannel.model_validate(
        {"email": {"to": TO, "from": "pager@triaged.example", "smtp": settings, "timeout": timeout}}
    )


# -- the server ---------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: bytes | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Mailbox:
    """An aiosmtpd handler that records what it accepts and answers as told."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> reply
    data_reply: str = "250 OK"
    hang_in_data: bool = False  # until the server stops (its tasks are cancelled)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.hang_in_data:
            await asyncio.Event().wait()
        if self.data_reply.startswith("250"):
            auth = session.auth_data
            assert isinstance(envelope.content, bytes) and envelope.mail_from is not None
            self.received.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    content=envelope.content,
                    tls=session.ssl is not None,
                    login=auth.login if isinstance(auth, LoginPassword) else None,
                )
            )
        return self.data_reply


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AuthResult:
    """Accept pager / PASSWORD; refuse anything else with a reply that (badly)
    echoes the password it was given, so the test can see it is not repeated."""
    assert isinstance(data, LoginPassword)
    if data.login == b"pager" and data.password == PASSWORD.encode():
        return AuthResult(success=True, auth_data=data)
    echoed = data.password.decode(errors="replace")
    return AuthResult(success=False, handled=False, message=f"535 5.7.8 bad password {echoed}")


@contextmanager
def smtp_server(mailbox: Mailbox, **smtp_kwargs: Any) -> Iterator[int]:
    """aiosmtpd on 127.0.0.1 (its own thread and loop); yields the port."""
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        server_hostname="mx.test",
        ready_timeout=5.0,
        **smtp_kwargs,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed server certificate for 127.0.0.1 / localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.test")])
    now = datetime.now(UTC)
    alt = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "mx.pem", directory / "mx.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting only the server's certificate)."""
    cert_path, key_path = certificate(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    return server, ssl.create_default_context(cafile=str(cert_path))


@contextmanager
def submission_server(mailbox: Mailbox, server_tls: ssl.SSLContext) -> Iterator[int]:
    """STARTTLS offered and required; AUTH offered only after TLS, and required."""
    with smtp_server(
        mailbox,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticate,
    ) as port:
        yield port


# -- delivery -----------------------------------------------------------------------------


def test_plain_delivery_carries_the_page() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        detail = channel.send(spec(port), page(), KEY, None, {})

    assert detail == "sent to alice@example.com, oncall@example.com"
    [got] = mailbox.received
    assert got.mail_from == "pager@triaged.example"
    assert got.rcpt_tos == TO
    assert not got.tls and got.login is None
    message = got.message
    assert message["From"] == "triaged <pager@triaged.example>"
    assert message["To"] == "alice@example.com, oncall@example.com"
    assert message["Subject"] == "[SEV-1] disk full on db-1"
    assert message["Message-ID"] == channel.message_id(KEY, "pager@triaged.example")
    assert message["X-Triaged-Idempotency-Key"] == KEY
    assert message["Date"] is not None
    assert message.get_content_type() == "text/plain"
    body = message.get_content().replace("\r\n", "\n")  # CRLF on the wire
    assert page().text() in body
    assert "probe disk: failed - 93% used (12 ms)" in body
    assert "acknowledge: https://triaged.example/ack/inc-7f3a?t=abc" in body
    assert body.rstrip().endswith("reason: escalation step 1")


def test_a_retried_page_carries_the_same_message_id() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        channel.send(spec(port), page(), KEY, None, {})
        channel.send(spec(port), page(), KEY, None, {})
        channel.send(spec(port), page(), KEY.replace("s1", "s2"), None, {})
    ids = [got.message["Message-ID"] for got in mailbox.received]
    assert ids[0] == ids[1] != ids[2]


def test_starttls_then_auth_then_delivery(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_tls, client_tls = tls
    mailbox = Mailbox()
    environ = {"SMTP_PASSWORD": PASSWORD}
    with submission_server(mailbox, server_tls) as port:
        channel_spec = spec(port, starttls=True, username="pager", password_env="SMTP_PASSWORD")
        detail = channel.send(channel_spec, page(), KEY, None, environ, ssl_context=client_tls)

    assert detail == "sent to alice@example.com, oncall@example.com"
    [got] = mailbox.received
    assert got.tls and got.login == b"pager"
    assert got.message["Subject"] == "[SEV-1] disk full on db-1"


def test_the_default_context_verifies_the_server_certificate(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_tls, _ = tls
    mailbox = Mailbox()
    environ = {"SMTP_PASSWORD": PASSWORD}
    with submission_server(mailbox, server_tls) as port:
        channel_spec = spec(port, starttls=True, username="pager", password_env="SMTP_PASSWORD")
        with pytest.raises(PermanentSendError, match="STARTTLS.*self-signed certificate"):
            channel.send(channel_spec, page(), KEY, None, environ)  # no ssl_context
    assert mailbox.received == []


def test_a_wrong_password_is_permanent_and_never_repeated(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_tls, client_tls = tls
    mailbox = Mailbox()
    wrong = "wr0ng-Pa55"
    with submission_server(mailbox, server_tls) as port:
        channel_spec = spec(port, starttls=True, username="pager", password_env="SMTP_PASSWORD")
        with pytest.raises(PermanentSendError) as raised:
            channel.send(
                channel_spec, page(), KEY, None, {"SMTP_PASSWORD": wrong}, ssl_context=client_tls
            )
    assert "AUTH: SMTP 535" in str(raised.value)
    assert "bad password ***" in str(raised.value)  # the server echoed it; we did not
    assert wrong not in str(raised.value) and PASSWORD not in str(raised.value)
    assert mailbox.received == []


def test_starttls_required_but_not_offered_is_permanent() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:  # no tls_context: no STARTTLS in EHLO
        with pytest.raises(PermanentSendError, match="does not offer STARTTLS"):
            channel.send(spec(port, starttls=True), page(), KEY, None, {})
    assert mailbox.received == []


def test_auth_not_offered_is_permanent() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, authenticator=authenticate) as port:  # AUTH only after TLS
        channel_spec = spec(port, username="pager", password_env="SMTP_PASSWORD")
        with pytest.raises(PermanentSendError, match="AUTH: SMTP AUTH extension not supported"):
            channel.send(channel_spec, page(), KEY, None, {"SMTP_PASSWORD": PASSWORD})
    assert mailbox.received == []


@pytest.mark.parametrize("environ", [{}, {"SMTP_PASSWORD": ""}])
def test_a_missing_password_variable_is_permanent_before_connecting(
    environ: dict[str, str],
) -> None:
    port = free_port()  # nothing listens: connecting would be a retryable error
    channel_spec = spec(port, username="pager", password_env="SMTP_PASSWORD")
    with pytest.raises(PermanentSendError, match="environment variable SMTP_PASSWORD is not set"):
        channel.send(channel_spec, page(), KEY, None, environ)


def test_a_username_without_password_env_is_permanent() -> None:
    with pytest.raises(PermanentSendError, match="password_env is not"):
        channel.send(spec(free_port(), username="pager"), page(), KEY, None, {})


# -- replies and failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mailbox", "error", "text"),
    [
        (Mailbox(data_reply="451 4.3.0 try again later"), RetryableSendError, "send: SMTP 451"),
        (Mailbox(data_reply="554 5.6.0 rejected"), PermanentSendError, "send: SMTP 554"),
        (
            Mailbox(rcpt_replies={a: "451 4.3.0 greylisted" for a in TO}),
            RetryableSendError,
            "recipients refused: alice@example.com 451",
        ),
        (
            Mailbox(rcpt_replies={a: "550 5.1.1 no such user" for a in TO}),
            PermanentSendError,
            "recipients refused: alice@example.com 550 5.1.1 no such user",
        ),
    ],
    ids=["451-data", "554-data", "451-rcpt", "550-rcpt"],
)
def test_smtp_replies_map_4xx_to_retry_and_5xx_to_permanent(
    mailbox: Mailbox, error: type[Exception], text: str
) -> None:
    with smtp_server(mailbox) as port:
        with pytest.raises(error, match=text) as raised:
            channel.send(spec(port), page(), KEY, None, {})
    assert type(raised.value) is error
    assert mailbox.received == []


def test_one_refused_recipient_does_not_fail_a_delivered_page() -> None:
    mailbox = Mailbox(rcpt_replies={"oncall@example.com": "550 5.1.1 no such user"})
    with smtp_server(mailbox) as port:
        detail = channel.send(spec(port), page(), KEY, None, {})
    assert detail == "sent to alice@example.com; refused oncall@example.com (550)"
    assert [got.rcpt_tos for got in mailbox.received] == [["alice@example.com"]]


def test_a_closed_port_is_retryable() -> None:
    with pytest.raises(RetryableSendError, match="connect: ConnectionRefusedError"):
        channel.send(spec(free_port()), page(), KEY, None, {})


def test_a_connect_that_never_completes_times_out_retryably() -> None:
    with unanswered_port() as port:
        started = time.monotonic()
        with pytest.raises(RetryableSendError, match="connect: timeout after 1s"):
            channel.send(spec(port, timeout="1s"), page(), KEY, None, {})
    assert time.monotonic() - started < 3


def test_a_server_that_never_greets_times_out_retryably() -> None:
    with socket.socket() as listener:  # accepts in the kernel, never writes a greeting
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        started = time.monotonic()
        with pytest.raises(RetryableSendError, match="connect: timeout after 1s"):
            channel.send(spec(listener.getsockname()[1], timeout="1s"), page(), KEY, None, {})
    assert time.monotonic() - started < 3


def test_one_timeout_bounds_the_whole_session() -> None:
    mailbox = Mailbox(hang_in_data=True)
    with smtp_server(mailbox) as port:
        started = time.monotonic()
        with pytest.raises(RetryableSendError, match="send: timeout after 1s"):
            channel.send(spec(port, timeout="1s"), page(), KEY, None, {})
        assert time.monotonic() - started < 3


# -- alert text is data -------------------------------------------------------------------


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\u2028", "\x85", "\r\n\t"])
def test_a_summary_cannot_add_a_header(breaker: str) -> None:
    mailbox = Mailbox()
    summary = f"disk full{breaker}Bcc: evil@x{breaker}{breaker}body?"
    with smtp_server(mailbox) as port:
        channel.send(spec(port), page(summary=summary), KEY, None, {})

    [got] = mailbox.received
    assert got.rcpt_tos == TO
    assert got.message["Bcc"] is None
    assert got.message["Subject"] == "[SEV-1] disk full Bcc: evil@x body?"
    headers = got.content.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc") for line in headers.split(b"\r\n"))


def test_alert_text_cannot_end_the_data_early() -> None:
    mailbox = Mailbox()
    smuggled = "ok\r\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<evil@x>\r\nDATA\r\nSubject: evil\n.\n"
    with smtp_server(mailbox) as port:
        channel.send(spec(port), page(detail=smuggled), KEY, None, {})

    [got] = mailbox.received  # one message, to the configured recipients only
    assert got.rcpt_tos == TO
    body = got.message.get_content()
    assert "MAIL FROM:<evil@x>" in body and "Subject: evil" in body
    assert got.message["Subject"] == "[SEV-1] disk full on db-1"


def test_non_ascii_alert_text_arrives_intact() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        channel.send(spec(port), page(summary="Speicher voll – ディスク"), KEY, None, {})
    [got] = mailbox.received
    assert got.message["Subject"] == "[SEV-1] Speicher voll – ディスク"
    assert "Speicher voll – ディスク" in got.message.get_content()


def test_header_text_is_one_line_and_bounded() -> None:
    assert channel.header_text("a\r\nb\tc\x00d\u2029e   f") == "a b c d e f"
    long = channel.header_text("x" * 500)
    assert len(long) == channel.SUBJECT_LIMIT and long.endswith("\u2026")


def test_message_id_is_valid_for_any_key() -> None:
    odd = channel.message_id("inc 1-g0-c0-s0-a..b<>@-0", "pager@triaged.example")
    assert odd.startswith("<inc-1-g0-c0-s0-a-b-") and odd.endswith("@triaged.example>")
    assert odd != channel.message_id("inc-1-g0-c0-s0-a-b-0", "pager@triaged.example")
    assert channel.message_id("k", "pager@[10.0.0.1]").endswith("@triaged.invalid>")
