"""The redis probe: ``PING`` the Redis whose URL is in an environment variable.

The URL (``redis://`` or ``rediss://``, credentials included) comes from the
environment the SRE controls, never from alert labels, so its host is checked with
``templated=False``: only metadata and link-local addresses are refused. The
connection goes to the address that was checked; over TLS the URL's host name is
still the one sent (SNI) and verified. The URL's password never reaches the detail.

Module named ``redis_probe`` so that it cannot shadow the ``redis`` package.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.connection import Connection, ConnectionPool, SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from rules.probes import RedisProbe
from workers.probes.base import Outcome, ProbeContext, ProbeResult, result
from workers.probes.targets import Target, TargetRefused, resolve

SCHEMES = ("redis", "rediss")
DEFAULT_PORT = 6379
EXCERPT = 160
# what a URL may set besides host and port (the timeouts are the probe's own)
CLIENT_OPTIONS = frozenset({"username", "password", "db", "protocol", "client_name"})
TLS_OPTIONS = frozenset(
    {
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_ca_data",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_password",
        "ssl_check_hostname",
        "ssl_min_version",
        "ssl_ciphers",
        "ssl_include_verify_flags",
        "ssl_exclude_verify_flags",
    }
)


class _NamedSSLConnection(SSLConnection):
    """TLS to the checked address, with the URL's host name for SNI and the
    certificate check (redis-py would otherwise use the address for both)."""

    def __init__(self, *, server_hostname: str, **kwargs: Any) -> None:
        self.server_hostname = server_hostname
        super().__init__(**kwargs)

    def _connection_arguments(self) -> Mapping[str, Any]:
        return {**super()._connection_arguments(), "server_hostname": self.server_hostname}


class _Unusable(Exception):
    """The URL in the environment cannot be probed (the reason is for the page)."""


def _url(spec: RedisProbe, environ: Mapping[str, str]) -> tuple[str, str, int, list[str]]:
    """(url, host, port, secrets) from the environment; raise _Unusable."""
    url = environ.get(spec.url_env, "").strip()
    if not url:
        raise _Unusable(f"environment variable {spec.url_env} is not set")
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise _Unusable(f"the URL in {spec.url_env} is malformed (bad host or port)") from exc
    if parts.scheme not in SCHEMES:
        raise _Unusable(f"the URL in {spec.url_env} is not redis:// or rediss://")
    if not parts.hostname:
        raise _Unusable(f"the URL in {spec.url_env} has no host")
    secrets = [s for s in (parts.password, unquote(parts.password or "")) if s]
    return url, parts.hostname, port, secrets


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text[:EXCERPT]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _options(url: str, env: str) -> tuple[dict[str, Any], bool]:
    """(client options, TLS?) from the URL's path and query; raise _Unusable for an
    option the probe does not pass on (the timeouts are the probe's own)."""
    try:
        options: dict[str, Any] = dict(parse_url(url))
    except ValueError as exc:
        raise _Unusable(f"the URL in {env} has an option with a bad value") from exc
    tls = options.pop("connection_class", Connection) is SSLConnection
    for ignored in ("host", "port", "socket_timeout", "socket_connect_timeout", "timeout"):
        options.pop(ignored, None)
    unknown = sorted(set(options) - CLIENT_OPTIONS - (TLS_OPTIONS if tls else frozenset()))
    if unknown:
        raise _Unusable(f"the URL in {env} has option {unknown[0]}, which the probe does not pass")
    return options, tls


def _client(options: dict[str, Any], tls: bool, target: Target, timeout: float) -> Redis:
    """A one-connection client pointed at the checked address, nothing retried."""
    settings: dict[str, Any] = {
        **options,
        "host": target.address,
        "port": target.port,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "max_connections": 1,
    }
    if tls:
        settings.update(connection_class=_NamedSSLConnection, server_hostname=target.host)
    return Redis(connection_pool=ConnectionPool(**settings))


async def _version(client: Redis, within: float) -> str:
    """`` (redis <version>)`` from INFO server, or nothing when INFO is refused or
    slower than ``within`` seconds (the PONG is what counts)."""
    if within <= 0:
        return ""
    try:
        async with asyncio.timeout(within):
            info = await client.info("server")
    except (RedisError, TimeoutError):
        return ""
    version = info.get("redis_version") if isinstance(info, dict) else None
    return f" (redis {version})" if version else ""


async def run(name: str, spec: RedisProbe, ctx: ProbeContext) -> ProbeResult:
    """PING once, bounded by ``spec.timeout``; never raises for the target."""
    started = time.perf_counter()
    timeout = spec.timeout.total_seconds()
    try:
        url, host, port, secrets = _url(spec, ctx.environ)
        options, tls = _options(url, spec.url_env)
        target = await resolve(host, port, templated=False, targets=ctx.targets, timeout=timeout)
    except (_Unusable, TargetRefused) as exc:
        return result(name, started, Outcome.ERROR, f"not probed: {exc}")
    address = f"[{target.address}]" if ":" in target.address else target.address
    where = f"{address}:{port}"
    client = _client(options, tls, target, timeout)
    try:
        async with asyncio.timeout(timeout):
            await client.ping()
        elapsed = time.perf_counter() - started
        version = await _version(client, timeout - elapsed)
    except (TimeoutError, RedisTimeout):
        return result(name, started, Outcome.TIMEOUT, f"no answer from {where} within {timeout:g}s")
    except AuthenticationError as exc:
        detail = f"authentication failed at {where}: {_scrub(str(exc), secrets)}"
        return result(name, started, Outcome.FAILED, detail)
    except RedisError as exc:
        if any(isinstance(e, ConnectionRefusedError) for e in _chain(exc)):
            return result(name, started, Outcome.FAILED, f"connection refused by {where}")
        detail = f"{type(exc).__name__}: {_scrub(str(exc), secrets) or 'no detail'}"
        return result(name, started, Outcome.FAILED, detail)
    finally:
        await client.aclose()
        await client.connection_pool.disconnect()
    return result(name, started, Outcome.OK, f"PONG in {elapsed * 1000:.0f} ms{version}")
