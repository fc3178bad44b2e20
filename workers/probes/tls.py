"""The tls probe: days until the certificate of ``host``:``port`` expires.

The handshake does NOT verify the certificate: an expired, self-signed or
wrongly named one is exactly what this probe reports, so it is read as served
(DER) and parsed with ``cryptography``. The host or port may take alert labels:
then the target is checked against its file's ``probe_targets``
(``workers.probes.targets``), the connection goes to the address that was
checked, and the host name is sent as SNI. The connection is dropped as soon as
the certificate is read; nothing is sent over it."""

from __future__ import annotations

import asyncio
import ssl
import time
from datetime import UTC, datetime, timedelta

from cryptography import x509

from rules.probes import TlsProbe
from workers.probes.base import Outcome, ProbeContext, ProbeResult, result
from workers.probes.targets import (
    MissingLabel,
    TargetRefused,
    resolve_filled,
)


def _unverified() -> ssl.SSLContext:
    """A client context that reads any certificate (no chain, no name check)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def judge(not_after: datetime, min_days: int, now: datetime) -> tuple[Outcome, str]:
    """The outcome and detail for a certificate valid until ``not_after``.

    Days are whole days left (rounded down), so "expires in 13 days" is under 14."""
    date = not_after.date().isoformat()
    left = not_after - now
    if left < timedelta(0):
        ago = (now - not_after).days
        when = f"{_days(ago)} ago" if ago else "less than a day ago"
        return Outcome.FAILED, f"expired {when} ({date})"
    detail = f"expires in {_days(left.days)} ({date})"
    if left.days < min_days:
        return Outcome.FAILED, f"{detail}, under {min_days}"
    return Outcome.OK, detail


async def _certificate(address: str, port: int, host: str, timeout: float) -> bytes | None:
    """The DER certificate served at ``address``:``port`` for SNI ``host``."""
    transport, _ = await asyncio.wait_for(
        asyncio.get_running_loop().create_connection(
            asyncio.Protocol,
            address,
            port,
            ssl=_unverified(),
            server_hostname=host,
            ssl_handshake_timeout=timeout + 1,  # wait_for's deadline comes first
        ),
        timeout,
    )
    try:
        tls = transport.get_extra_info("ssl_object")
        return tls.getpeercert(binary_form=True) if tls is not None else None
    finally:
        transport.abort()  # no close_notify exchange left running after the probe


async def run(name: str, spec: TlsProbe, ctx: ProbeContext) -> ProbeResult:
    """Handshake once, bounded by ``spec.timeout`` (lookup included); never raises
    for the target."""
    started = time.perf_counter()
    timeout = spec.timeout.total_seconds()
    try:
        target = await resolve_filled(spec.host, spec.port, ctx.labels, ctx.targets, timeout)
        port = target.port
    except (MissingLabel, TargetRefused) as exc:
        return result(name, started, Outcome.ERROR, f"not probed: {exc}")
    where = f"{target.host}:{port} ({target.address})"
    remaining = max(timeout - (time.perf_counter() - started), 0.001)
    try:
        der = await _certificate(target.address, port, target.host, remaining)
    except TimeoutError:
        return result(name, started, Outcome.TIMEOUT, f"{where}: no handshake within {timeout:g}s")
    except ConnectionRefusedError:
        return result(name, started, Outcome.FAILED, f"{where}: connection refused")
    except ssl.SSLError as exc:
        reason = exc.reason or exc.strerror or str(exc)
        return result(name, started, Outcome.FAILED, f"{where}: TLS handshake failed: {reason}")
    except (OSError, EOFError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return result(name, started, Outcome.FAILED, f"{where}: TLS handshake failed: {reason}")
    if not der:
        return result(name, started, Outcome.FAILED, f"{where}: no certificate served")
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return result(name, started, Outcome.FAILED, f"{where}: unreadable certificate: {exc}")
    outcome, detail = judge(certificate.not_valid_after_utc, spec.min_days, datetime.now(UTC))
    return result(name, started, outcome, detail)
