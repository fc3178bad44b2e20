"""The email channel: the page as a plain-text email, sent over SMTP (smtplib).

One attempt, bounded by the spec's ``timeout`` as one budget for the whole
session: connect and greeting, EHLO, STARTTLS (unless ``starttls: false``; the
server certificate is verified with ``ssl.create_default_context()``), EHLO
again, AUTH when ``username`` is set (smtplib picks PLAIN or LOGIN, or CRAM-MD5,
from what the server offers; the password from ``environ[password_env]``), then
MAIL / RCPT / DATA with one ``EmailMessage``:

    From: triaged <spec.from>           To: spec.to
    Subject: [SEV-1] <summary>          (control characters and line breaks of the
                                         alert text become spaces: no header injection)
    Date, Message-ID                    Message-ID is derived from the idempotency key,
                                         so a retried page carries the same one
    X-Triaged-Idempotency-Key: <key>
    body: Page.text() and the reason    (text/plain; utf-8; smtplib dot-stuffs and
                                         normalizes line ends, so the body cannot end DATA)

Outcomes (RFC 5321 4.2.1: 4yz transient, 5yz permanent):

- RetryableSendError: connection refused/reset, DNS failure, timeout, the server
  hanging up (SMTPServerDisconnected), any 4xx reply (421, 450, 451, 452, 454),
  every recipient refused with 4xx only.
- PermanentSendError: any 5xx reply (550 recipient refused, 535 auth failed,
  554), a recipient refused with 5xx, STARTTLS required but not offered, AUTH
  not offered, an untrusted server certificate, a missing password variable (named,
  never its value), an address the email package cannot write.
- Success: ``"sent to a@b.c"``; recipients refused while others were accepted are
  listed in the detail (the message went out: retrying would duplicate it).

Details never contain the password (it is also scrubbed from server replies).

Documentation:
- https://docs.python.org/3/library/smtplib.html (SMTP, starttls, login, send_message,
  exceptions)
- https://docs.python.org/3/library/email.message.html (EmailMessage)
- https://docs.python.org/3/library/email.policy.html (header values refuse CR/LF;
  verify_generated_headers)
- https://www.rfc-editor.org/rfc/rfc5321 (4.1.4 EHLO argument, 4.2.1 reply classes,
  4.5.2 transparency)
- https://www.rfc-editor.org/rfc/rfc3207 (STARTTLS), https://www.rfc-editor.org/rfc/rfc4954
  (AUTH)
- https://www.rfc-editor.org/rfc/rfc5322 (3.6.4 Message-ID)
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Mapping
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from rules.channels import EmailChannel, EmailSettings, SmtpSettings
from workers.channels.base import PermanentSendError, RetryableSendError, SendError
from workers.page import Page

SUBJECT_LIMIT = 200
"""Characters of summary kept in the Subject (the body has all of it)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_MSGID_LOCAL = re.compile(r"[^A-Za-z0-9_-]+")


def send(
    spec: EmailChannel,
    page: Page,
    idempotency_key: str,
    client: object,
    environ: Mapping[str, str],
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> str:
    """Send the page as one email; return ``"sent to ..."``.

    Args:
        spec: The channel as written in the rule file.
        page: What to send.
        idempotency_key: The same on every retry of this page to this channel.
        client: Unused (the HTTP client other channels take).
        environ: The worker's environment, for ``smtp.password_env``.
        ssl_context: Trust for STARTTLS; None (production) is
            ``ssl.create_default_context()``: the system CAs and hostname checking.

    Raises:
        RetryableSendError: timeout, connection failure, a 4xx reply.
        PermanentSendError: a 5xx reply, TLS or AUTH unavailable or untrusted,
            a missing password variable.
    """
    settings = spec.email
    login = _login(settings.smtp, environ)
    message = compose(settings, page, idempotency_key)
    secret = login[1] if login else None
    timeout = settings.timeout.total_seconds()
    deadline = time.monotonic() + timeout
    try:  # connect and read the greeting
        # local_hostname given so smtplib does not resolve our FQDN (unbounded DNS);
        # EHLO names the local address as an address literal (RFC 5321 4.1.4)
        smtp = smtplib.SMTP(
            settings.smtp.host, settings.smtp.port, local_hostname="localhost", timeout=timeout
        )
    except OSError as exc:
        raise _error(exc, "connect", timeout, secret) from exc
    stage = "EHLO"
    try:
        smtp.local_hostname = _address_literal(smtp.sock)
        _ehlo(smtp, deadline)
        if settings.smtp.starttls:
            stage = "STARTTLS"
            if not smtp.has_extn("starttls"):
                raise PermanentSendError(
                    f"email: {settings.smtp.host}:{settings.smtp.port} does not offer "
                    "STARTTLS (set starttls: false to send in the clear)"
                )
            _budget(smtp, deadline)
            smtp.starttls(context=ssl_context or ssl.create_default_context())
            _ehlo(smtp, deadline)
        if login:
            stage = "AUTH"
            _budget(smtp, deadline)
            smtp.login(*login)
        stage = "send"
        _budget(smtp, deadline)
        refused = smtp.send_message(message, settings.sender, list(settings.to))
        with contextlib.suppress(OSError):  # delivered: a failed QUIT changes nothing
            _budget(smtp, deadline)
            smtp.quit()
    except UnicodeEncodeError as exc:  # smtplib encodes AUTH credentials as ASCII
        raise PermanentSendError(f"email {stage}: username or password is not ASCII") from exc
    except OSError as exc:  # smtplib.SMTPException, ssl.SSLError and socket errors
        raise _error(exc, stage, timeout, secret) from exc
    finally:
        smtp.close()
    detail = f"sent to {', '.join(a for a in settings.to if a not in refused)}"
    if refused:
        detail += "; refused " + ", ".join(f"{a} ({c})" for a, (c, _) in refused.items())
    return detail


def compose(settings: EmailSettings, page: Page, idempotency_key: str) -> EmailMessage:
    """The email for ``page``: alert text only in the Subject (cleaned) and the body."""
    message = EmailMessage()
    try:
        message["From"] = Address("triaged", addr_spec=settings.sender)
        message["To"] = [Address(addr_spec=address) for address in settings.to]
    except (ValueError, HeaderParseError) as exc:
        raise PermanentSendError(f"email: cannot write an address: {exc}"[:200]) from exc
    message["Subject"] = f"[{header_text(page.severity)}] {header_text(page.summary)}"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(idempotency_key, settings.sender)
    message["X-Triaged-Idempotency-Key"] = header_text(idempotency_key)
    message.set_content(f"{page.text()}\n  reason: {page.reason}\n")
    return message


def header_text(value: str, limit: int = SUBJECT_LIMIT) -> str:
    """``value`` on one line: control characters and line breaks become single
    spaces (a CR/LF from alert text cannot start a header), at most ``limit`` chars."""
    cleaned = " ".join(_CONTROL.sub(" ", value).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"


def message_id(idempotency_key: str, sender: str) -> str:
    """``<key.hash@domain>``: the same for every retry of one page (receivers may
    drop the duplicate), unique per key, valid per RFC 5322 3.6.4."""
    local = _MSGID_LOCAL.sub("-", idempotency_key).strip("-")[:64] or "page"
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    domain = sender.rpartition("@")[2]
    if not _DOMAIN.fullmatch(domain):
        domain = "triaged.invalid"
    return f"<{local}.{digest}@{domain}>"


def _login(smtp: SmtpSettings, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(username, password), or None when no username is set."""
    if smtp.username is None:
        return None
    if smtp.password_env is None:
        raise PermanentSendError("email: smtp.username is set but smtp.password_env is not")
    password = environ.get(smtp.password_env, "")
    if not password:
        raise PermanentSendError(f"email: environment variable {smtp.password_env} is not set")
    return smtp.username, password


def _budget(smtp: smtplib.SMTP, deadline: float) -> None:
    """Give the next exchange what is left of the send's timeout."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    if smtp.sock is not None:
        smtp.sock.settimeout(left)


def _ehlo(smtp: smtplib.SMTP, deadline: float) -> None:
    _budget(smtp, deadline)
    code, reply = smtp.ehlo()
    if code != 250:
        raise smtplib.SMTPHeloError(code, reply)


def _address_literal(sock: socket.socket | None) -> str:
    if sock is None:
        return "localhost"
    host = sock.getsockname()[0]
    return f"[IPv6:{host}]" if ":" in host else f"[{host}]"


def _error(exc: OSError, stage: str, timeout: float, secret: str | None) -> SendError:
    """The SendError for what smtplib, ssl or the socket raised during ``stage``."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        text = "; ".join(f"{a} {c} {_reply(r)}" for a, (c, r) in exc.recipients.items())
        kind = RetryableSendError if all(400 <= c < 500 for c in codes) else PermanentSendError
        return kind(_scrub(f"email: recipients refused: {text}", secret))
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        kind = PermanentSendError if 500 <= code < 600 else RetryableSendError
        return kind(_scrub(f"email {stage}: SMTP {code} {_reply(exc.smtp_error)}", secret))
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a read that timed out as a disconnect (the timeout as context)
        if isinstance(exc.__context__, TimeoutError):
            return RetryableSendError(f"email {stage}: timeout after {timeout:g}s")
        return RetryableSendError(f"email {stage}: server disconnected")
    if isinstance(exc, smtplib.SMTPException):  # AUTH not offered, no usable mechanism...
        return PermanentSendError(_scrub(f"email {stage}: {exc}", secret))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentSendError(f"email {stage}: {exc.verify_message or 'verify failed'}")
    if isinstance(exc, TimeoutError):
        return RetryableSendError(f"email {stage}: timeout after {timeout:g}s")
    return RetryableSendError(f"email {stage}: {type(exc).__name__}: {exc}"[:200])


def _reply(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return header_text(text, 120)


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text
