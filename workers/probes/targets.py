"""Where a probe may connect, and filling ``{label}`` placeholders safely.

A target the SRE wrote out in full is theirs to choose. A target that takes alert
labels (``http://{instance}/health``) is what an alert sender controls, so it is
checked, after the labels are filled in and the name is resolved, against the
``probe_targets`` of the rule file that defines the probe: the host must match one
of ``hosts`` (globs) or every address it resolves to lie in ``networks``, and the
port must be in ``ports``. Cloud metadata and link-local addresses are refused for
every probe. The address that was checked is the one connected to (no second
lookup that could answer differently).
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx

from rules.probes import ProbeTargets, placeholders

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# never a probe's business: instance metadata (AWS, GCP, Azure, Alibaba, Oracle...)
# and link-local addresses, where they live; "this network"
ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
        "0.0.0.0/8",
        "::/128",
    )
)
# what a label value put into a URL's host part may hold: a host name, an IPv4
# address, a bracketed IPv6 address, an optional port
_HOST_VALUE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TargetRefused(Exception):
    """The target is not one this probe may reach (the reason is for the page)."""


class MissingLabel(Exception):
    """A placeholder names a label the alert does not have."""


def _value(labels: Mapping[str, str], name: str) -> str:
    value = labels.get(name)
    if value is None or value == "":
        raise MissingLabel(f"the alert has no {name} label")
    return value


def fill(template: str, labels: Mapping[str, str]) -> str:
    """A plain template (host, name, query) with its placeholders filled in."""
    return _PLACEHOLDER.sub(lambda m: _value(labels, m.group(1)), template)


def fill_url(template: str, labels: Mapping[str, str]) -> str:
    """A URL template filled in: in the host part a value must be a host[:port]
    (nothing that could change the URL's shape); elsewhere it is percent-encoded."""
    scheme, sep, rest = template.partition("://")
    cut = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found != -1:
            cut = min(cut, found)
    authority, tail = rest[:cut], rest[cut:]

    def host_value(match: re.Match[str]) -> str:
        value = _value(labels, match.group(1))
        if not _HOST_VALUE.match(value):
            raise TargetRefused(f"label {match.group(1)}={value[:60]!r} is not a host[:port]")
        return value

    filled_authority = _PLACEHOLDER.sub(host_value, authority)
    filled_tail = _PLACEHOLDER.sub(lambda m: quote(_value(labels, m.group(1)), safe=""), tail)
    return f"{scheme}{sep}{filled_authority}{filled_tail}"


_PORT = re.compile(r"^[0-9]{1,5}$")


def fill_port(template: str | int, labels: Mapping[str, str]) -> int:
    """A port, written out or filled from labels; TargetRefused unless 1..65535."""
    if isinstance(template, int):
        return template
    text = fill(template, labels)
    if not _PORT.match(text) or not 1 <= int(text) <= 65535:
        raise TargetRefused(f"port {text[:40]!r} is not a number from 1 to 65535")
    return int(text)


def takes_labels(*templates: str | int) -> bool:
    """Whether any of a probe's target fields uses alert labels."""
    return any(isinstance(t, str) and placeholders(t) for t in templates)


async def resolve_filled(
    host: str,
    port: str | int,
    labels: Mapping[str, str],
    targets: ProbeTargets | None,
    timeout: float,
) -> Target:
    """``host`` and ``port`` (either may take ``{label}`` values) filled in, checked and
    resolved; MissingLabel or TargetRefused (nothing connected) otherwise."""
    return await resolve(
        fill(host, labels),
        fill_port(port, labels),
        templated=takes_labels(host, port),
        targets=targets,
        timeout=timeout,
    )


@dataclass(frozen=True)
class Target:
    """A checked target: connect to ``address`` (``host`` is for Host / SNI)."""

    host: str
    port: int
    address: str


def _refused_always(ip: IpAddress) -> bool:
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    candidates = [ip] if mapped is None else [ip, mapped]
    return any(c in net for c in candidates for net in ALWAYS_REFUSED if c.version == net.version)


async def resolve(
    host: str, port: int, *, templated: bool, targets: ProbeTargets | None, timeout: float = 2.0
) -> Target:
    """Check ``host``:``port`` and pick the address to connect to; raise TargetRefused.

    ``templated``: the host or port came from alert labels (then ``targets`` must
    allow it)."""
    host = host.strip("[]").lower()
    if templated:
        if targets is None:
            raise TargetRefused(
                "the target takes alert labels, but its rule file has no probe_targets"
            )
        if targets.ports and port not in targets.ports:
            raise TargetRefused(f"port {port} is not in probe_targets.ports")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
                timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise TargetRefused(f"{host} does not resolve: {exc}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    for ip in addresses:
        if _refused_always(ip):
            raise TargetRefused(f"{host} is {ip}: metadata and link-local addresses are refused")
    if templated:
        assert targets is not None
        by_name = any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in targets.hosts)
        networks = [ipaddress.ip_network(n, strict=False) for n in targets.networks]
        in_networks = all(
            any(ip.version == net.version and ip in net for net in networks) for ip in addresses
        )
        if not by_name and not (networks and in_networks):
            raise TargetRefused(f"{host} ({addresses[0]}) is not in probe_targets")
    return Target(host=host, port=port, address=str(addresses[0]))


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a filled-in http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"not an http(s) URL with a host: {url[:80]!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(f"bad port in {url[:80]!r}") from exc
    if parts.username or parts.password:
        raise TargetRefused("credentials in a probe URL are refused")
    return parts.scheme, parts.hostname, port


class TooLarge(Exception):
    """An answer longer than the probe reads."""


async def pinned_get(
    client: httpx.AsyncClient,
    url: str,
    targets: ProbeTargets | None,
    timeout: float,
    max_body: int,
    params: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """GET a URL written out in full at its checked address (name as Host and TLS
    SNI, no redirects, no compression): (status, the body). TargetRefused when the
    address is not one a probe may reach; TooLarge past ``max_body`` bytes."""
    scheme, host, port = split_url(url)
    target = await resolve(host, port, templated=False, targets=targets, timeout=timeout)
    default_port = 443 if scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host
    headers = {
        "Host": name if port == default_port else f"{name}:{port}",
        "Accept": "application/json",
        "Accept-Encoding": "identity",
    }
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    pinned = httpx.URL(url).copy_with(host=target.address)
    async with client.stream(
        "GET",
        pinned,
        params=params,
        headers=headers,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        extensions=extensions,
    ) as response:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_body:
                raise TooLarge
        return response.status_code, bytes(body)
