"""Sender authentication, per source, as its rule file configures (``rules.sources``).

Secrets are read once, when the receiver starts, from the environment or a file
(``load_secrets``): a missing or empty one stops the start with a message naming
where it was looked for, never its value. Every comparison is constant-time and
tries every configured secret (rotation: old and new both pass while both are
configured). A failure says nothing about which part failed: the caller answers
401 ``authentication failed``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rules.sources import SecretRef, SourceAuth


class SecretUnavailable(Exception):
    """A configured secret could not be read (message names where, not what)."""


def read_secret(ref: SecretRef, environ: Mapping[str, str]) -> bytes:
    """The secret ``ref`` names, as bytes (a file's trailing newline dropped)."""
    if ref.env is not None:
        value = environ.get(ref.env, "")
        if not value:
            raise SecretUnavailable(f"environment variable {ref.env} is not set or empty")
        return value.encode()
    assert ref.file is not None
    try:
        data = Path(ref.file).read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise SecretUnavailable(f"file {ref.file}: {exc.strerror}") from exc
    if not data:
        raise SecretUnavailable(f"file {ref.file} is empty")
    return data


def _b(text: str) -> bytes:
    # aiohttp hands non-UTF-8 header bytes over as surrogates: keep them, to fail the
    # comparison rather than the encoding
    return text.encode("utf-8", "surrogatepass")


def _matches_any(given: bytes, secrets: tuple[bytes, ...]) -> bool:
    """Constant-time against each secret, every secret compared."""
    ok = False
    for secret in secrets:
        ok |= hmac.compare_digest(given, secret)
    return ok


@dataclass(frozen=True)
class Credentials:
    """What a request offers: its headers, its query and its body."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    now: float


@dataclass(frozen=True)
class Authenticator:
    """One source's auth, its secrets loaded."""

    config: SourceAuth
    secrets: tuple[bytes, ...]

    @classmethod
    def load(cls, config: SourceAuth, environ: Mapping[str, str]) -> Authenticator:
        return cls(config, tuple(read_secret(r, environ) for r in config.secret_refs()))

    def check(self, offered: Credentials) -> bool:
        """True when the request proves it comes from the sender."""
        c = self.config
        if c.bearer is not None:
            scheme, _, token = offered.headers.get("Authorization", "").partition(" ")
            return _matches_any(_b(token.strip()), self.secrets) and scheme.lower() == "bearer"
        if c.basic is not None:
            user, password = _basic(offered.headers.get("Authorization", ""))
            user_ok = hmac.compare_digest(user, c.basic.username.encode())
            return _matches_any(password, self.secrets) and user_ok
        if c.query_token is not None:
            given = _b(offered.query.get(c.query_token.param, ""))
            return _matches_any(given, self.secrets)
        assert c.hmac is not None
        return self._hmac(offered)

    def _hmac(self, offered: Credentials) -> bool:
        h = self.config.hmac
        assert h is not None
        signature = _b(offered.headers.get(h.header, "").strip().lower())
        signed = offered.body
        if h.timestamp_header is not None:
            stamp = offered.headers.get(h.timestamp_header, "").strip()
            if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
                return False
            if abs(offered.now - int(stamp)) > h.max_skew.total_seconds():
                return False
            signed = _b(stamp) + b":" + offered.body
        ok = False
        for secret in self.secrets:
            expected = hmac.new(secret, signed, hashlib.sha256).hexdigest().encode()
            ok |= hmac.compare_digest(signature, expected)
        return ok


def _basic(header: str) -> tuple[bytes, bytes]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return b"", b""
    try:
        decoded = base64.b64decode(_b(encoded.strip()), validate=True)
    except (binascii.Error, ValueError):
        return b"", b""
    user, _, password = decoded.partition(b":")
    return user, password
