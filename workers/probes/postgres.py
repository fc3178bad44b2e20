"""The postgres probe: ``SELECT 1`` on the PostgreSQL whose DSN is in an environment
variable.

The DSN (``postgresql://user:pass@host:port/db``) comes from the environment the SRE
controls, never from alert labels, so its host is checked with ``templated=False``:
only metadata and link-local addresses are refused. asyncpg connects to the address
that was checked (its ``host`` argument overrides the DSN's); everything else (user,
password, database, sslmode) is the DSN's. Since the connection goes to an address,
``sslmode=verify-full`` (a certificate checked against the host *name*) is refused
with a reason rather than failing on every run: ``verify-ca`` checks the chain.
The DSN's password never reaches the detail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from rules.probes import PostgresProbe
from workers.probes.base import Outcome, ProbeContext, ProbeResult, result
from workers.probes.targets import TargetRefused, resolve

SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = 5432
EXCERPT = 160
CLOSE_TIMEOUT = 1.0


class _Unusable(Exception):
    """The DSN in the environment cannot be probed (the reason is for the page)."""


def _dsn(spec: PostgresProbe, environ: Mapping[str, str]) -> tuple[str, str, int, list[str]]:
    """(dsn, host, port, secrets) from the environment; raise _Unusable."""
    env = spec.dsn_env
    dsn = environ.get(env, "").strip()
    if not dsn:
        raise _Unusable(f"environment variable {env} is not set")
    parts = urlsplit(dsn)
    if parts.scheme not in SCHEMES:
        raise _Unusable(f"the DSN in {env} is not postgresql://")
    if "," in parts.netloc.rpartition("@")[2]:
        raise _Unusable(f"the DSN in {env} names several hosts; the probe takes one")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise _Unusable(f"the DSN in {env} is malformed (bad port)") from exc
    host = unquote(parts.hostname or "")
    if not host:
        raise _Unusable(f"the DSN in {env} has no host")
    if host.startswith("/"):
        raise _Unusable(f"the DSN in {env} names a unix socket; the probe connects over TCP")
    query = parse_qs(parts.query)
    if "host" in query or "port" in query:
        raise _Unusable(f"the DSN in {env} sets host or port in its query; put them in the URL")
    sslmode = (query.get("sslmode") or [environ.get("PGSSLMODE", "")])[0]
    if sslmode == "verify-full":
        raise _Unusable(
            f"the DSN in {env} asks for sslmode=verify-full, a certificate check against "
            "the host name, and the probe connects to the checked address: use verify-ca"
        )
    secrets = [s for s in (parts.password, unquote(parts.password or "")) if s]
    return dsn, host, port, secrets


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return " ".join(text.split())[:EXCERPT] or "no detail"


def _version(conn: asyncpg.Connection) -> str:
    """``15.18``: the server_version the server reported at startup (no query)."""
    reported = str(getattr(conn.get_settings(), "server_version", "") or "unknown")
    return reported.split()[0][:40]


async def _close(conn: asyncpg.Connection) -> None:
    """Say goodbye (no "unexpected EOF" in the server's log); hang up when that fails."""
    try:
        await conn.close(timeout=CLOSE_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        conn.terminate()


def _failed(exc: BaseException, where: str, secrets: list[str]) -> str:
    """The detail for an answer that was not the one wanted."""
    text = _scrub(str(exc), secrets)
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):  # + InvalidPassword
        return f"authentication failed at {where}: {text}"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"database missing at {where}: {text}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}"
    return f"{type(exc).__name__} at {where}: {text}"


async def run(name: str, spec: PostgresProbe, ctx: ProbeContext) -> ProbeResult:
    """Connect and ``SELECT 1`` once, bounded by ``spec.timeout``; never raises for
    the target."""
    started = time.perf_counter()
    timeout = spec.timeout.total_seconds()
    try:
        dsn, host, port, secrets = _dsn(spec, ctx.environ)
        target = await resolve(host, port, templated=False, targets=ctx.targets, timeout=timeout)
    except (_Unusable, TargetRefused) as exc:
        return result(name, started, Outcome.ERROR, f"not probed: {exc}")
    address = f"[{target.address}]" if ":" in target.address else target.address
    where = f"{address}:{port}"
    conn: asyncpg.Connection | None = None
    try:
        async with asyncio.timeout(timeout):
            conn = await asyncpg.connect(
                dsn,
                host=target.address,
                port=port,
                timeout=timeout,
                command_timeout=timeout,
            )
            answer = await conn.fetchval("SELECT 1")
        elapsed_ms = (time.perf_counter() - started) * 1000
        version = _version(conn)
    except TimeoutError:
        return result(name, started, Outcome.TIMEOUT, f"no answer from {where} within {timeout:g}s")
    except asyncpg.ClientConfigurationError as exc:
        detail = f"not probed: the DSN in {spec.dsn_env} is unusable: {_scrub(str(exc), secrets)}"
        return result(name, started, Outcome.ERROR, detail)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return result(name, started, Outcome.FAILED, _failed(exc, where, secrets))
    finally:
        if conn is not None:
            await _close(conn)
    if answer != 1:
        return result(name, started, Outcome.FAILED, f"SELECT 1 returned {answer!r:.40}")
    detail = f"SELECT 1 in {elapsed_ms:.0f} ms (server {version})"
    return result(name, started, Outcome.OK, detail)
