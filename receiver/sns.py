"""Amazon SNS HTTP/S deliveries: message signatures and the subscription handshake.

I/O lives here (httpx), not in the adapter: ``receiver.sources.cloudwatch`` parses
the body and ``sns_message`` hands over the envelope's fields; this module checks
them.

``SnsVerifier.verify`` follows AWS's "Verifying the signatures of Amazon SNS
messages": the string to sign is ``<key>\\n<value>\\n`` for each signed key present,
in this fixed order (optional ``Subject`` left out when absent)::

    Notification:                         Message, MessageId, Subject, Timestamp, TopicArn, Type
    SubscriptionConfirmation / Unsubscribe: Message, MessageId, SubscribeURL, Timestamp,
                                            Token, TopicArn, Type

``SignatureVersion`` "1" is SHA1withRSA, "2" SHA256withRSA (PKCS#1 v1.5), with the
key of the X.509 certificate at ``SigningCertURL``. That URL is fetched only when it
is ``https``, on port 443, without userinfo, its path ends in ``.pem`` and its host
matches the SNS allowlist (``sns.<region>.amazonaws.com[.cn]``); anything else is
refused *before any connection*. Certificates are cached by URL (bounded, 1 h).
A message whose ``Timestamp`` is more than an hour old (SNS retries a delivery for
at most an hour, keeping the first Timestamp) or in the future is refused as a replay.

Raw message delivery bodies carry no signature and cannot be verified here.

Every refusal raises ``SnsRejected(reason)``; the caller answers 401/403 without the
reason (``retryable`` says the fault may be ours or transient: answer 503 so SNS
retries). ``confirm_subscription`` returns what it did, it never raises.

Documentation used:
- https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
- https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html
- https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html
- https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html
- https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html
  ("The total policy retry time for an HTTP/S endpoint cannot be greater than 3,600 seconds")
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DEFAULT_HOST_PATTERN = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_SIGNED_KEYS = {
    "Notification": NOTIFICATION_KEYS,
    "SubscriptionConfirmation": CONFIRMATION_KEYS,
    "UnsubscribeConfirmation": CONFIRMATION_KEYS,
}
_OPTIONAL_KEYS = frozenset({"Subject"})
_HASHES: dict[str, type[hashes.SHA1] | type[hashes.SHA256]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}


class SnsRejected(Exception):
    """An SNS message, certificate or URL refused; ``reason`` is for logs only.

    Attributes:
        reason: why, in a few words.
        retryable: True when the certificate could not be fetched (network, 5xx):
            the message may be genuine, so the caller should answer 503.
    """

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs SNS may make us fetch: ``https``, an allowlisted host, an allowed port
    (443 by default, i.e. none written), no userinfo.

    Tests serve certificates from 127.0.0.1 by passing their own pattern and port;
    production keeps the default AWS pattern.
    """

    host_pattern: str = DEFAULT_HOST_PATTERN
    ports: frozenset[int] = frozenset({443})
    _host: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_host", re.compile(self.host_pattern))

    def check(self, raw: str, *, pem: bool) -> httpx.URL:
        """Return the parsed URL to fetch, or raise SnsRejected (nothing is fetched)."""
        if not raw or any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in raw):
            raise SnsRejected("URL has spaces, control characters or backslashes")
        try:
            url = httpx.URL(raw)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise SnsRejected("URL does not parse") from None
        if url.scheme != "https":
            raise SnsRejected("URL is not https")
        if url.userinfo:
            raise SnsRejected("URL has userinfo")
        if not self._host.fullmatch(url.host):
            raise SnsRejected("URL host is not an SNS host")
        if (url.port or 443) not in self.ports:
            raise SnsRejected("URL port is not allowed")
        if pem and not url.path.endswith(".pem"):
            raise SnsRejected("certificate URL path does not end in .pem")
        return url


AWS_SNS = UrlPolicy()


def string_to_sign(fields: Mapping[str, str]) -> bytes:
    """The canonical text SNS signed, for the message's ``Type`` (AWS's fixed order)."""
    keys = _SIGNED_KEYS.get(fields.get("Type", ""))
    if keys is None:
        raise SnsRejected("unknown message Type")
    parts: list[str] = []
    for key in keys:
        value = fields.get(key)
        if value is None:
            if key in _OPTIONAL_KEYS:
                continue
            raise SnsRejected(f"signed field {key} is missing")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


def _timestamp(text: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise SnsRejected("Timestamp does not parse") from None
    if stamp.tzinfo is None:
        raise SnsRejected("Timestamp has no time zone")
    return stamp


@dataclass
class _Cached:
    key: rsa.RSAPublicKey
    not_before: datetime
    not_after: datetime
    expires: float


class SnsVerifier:
    """Verify SNS message signatures, fetching signing certificates from SNS only.

    Args:
        client: the HTTP client certificates are fetched with (owned by the caller);
            a private one is made (and closed by ``aclose``) when None.
        policy: which certificate URLs may be fetched (default: AWS SNS hosts, 443).
        require_v2: refuse ``SignatureVersion`` "1" (SHA1).
        max_age: the oldest ``Timestamp`` accepted.
        max_skew: how far in the future a ``Timestamp`` may be (clock skew).
        timeout: seconds for one certificate fetch.
        max_cert_bytes: the largest certificate accepted.
        cache_size / cache_ttl: certificates kept, and for how many seconds.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        policy: UrlPolicy = AWS_SNS,
        require_v2: bool = False,
        max_age: timedelta = timedelta(hours=1),
        max_skew: timedelta = timedelta(minutes=5),
        timeout: float = 5.0,
        max_cert_bytes: int = 16_384,
        cache_size: int = 32,
        cache_ttl: float = 3600.0,
    ) -> None:
        self._owned = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        self._policy = policy
        self.require_v2 = require_v2
        self._max_age = max_age
        self._max_skew = max_skew
        self._timeout = timeout
        self._max_cert_bytes = max_cert_bytes
        self._cache_size = cache_size
        self._cache_ttl = cache_ttl
        self._cache: OrderedDict[str, _Cached] = OrderedDict()

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier made it."""
        if self._owned:
            await self._client.aclose()

    async def verify(self, fields: Mapping[str, str], *, now: datetime) -> None:
        """Check an SNS envelope's signature; raise SnsRejected when it does not hold.

        ``fields`` are the envelope's string fields by SNS name, exactly as sent
        (``receiver.sources.cloudwatch.sns_message(payload).fields``).
        """
        version = fields.get("SignatureVersion")
        algorithm = _HASHES.get(version or "")
        if algorithm is None:
            raise SnsRejected("SignatureVersion is not 1 or 2")
        if version == "1" and self.require_v2:
            raise SnsRejected("SignatureVersion 1 (SHA1) is refused")
        stamp = _timestamp(fields.get("Timestamp", ""))
        if stamp < now - self._max_age:
            raise SnsRejected("Timestamp is too old")
        if stamp > now + self._max_skew:
            raise SnsRejected("Timestamp is in the future")
        text = string_to_sign(fields)
        try:
            signature = base64.b64decode(fields.get("Signature", ""), validate=True)
        except (binascii.Error, ValueError):
            raise SnsRejected("Signature is not base64") from None
        if not signature:
            raise SnsRejected("Signature is missing")
        url = self._policy.check(fields.get("SigningCertURL", ""), pem=True)
        key = await self._public_key(url, now)
        try:
            key.verify(signature, text, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise SnsRejected("signature does not verify") from None

    async def _public_key(self, url: httpx.URL, now: datetime) -> rsa.RSAPublicKey:
        name = str(url)
        cached = self._cache.get(name)
        if cached is None or cached.expires <= time.monotonic():
            cached = await self._fetch(url)
            self._cache[name] = cached
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(name)
        if not cached.not_before <= now <= cached.not_after:
            raise SnsRejected("signing certificate is not valid now")
        return cached.key

    async def _fetch(self, url: httpx.URL) -> _Cached:
        try:
            async with self._client.stream(
                "GET", url, timeout=self._timeout, follow_redirects=False
            ) as response:
                if response.status_code != 200:
                    raise SnsRejected(
                        f"certificate fetch answered {response.status_code}",
                        retryable=response.status_code >= 500,
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_cert_bytes:
                        raise SnsRejected("certificate is too large")
        except httpx.HTTPError as exc:
            reason = f"certificate fetch failed: {type(exc).__name__}"
            raise SnsRejected(reason, retryable=True) from None
        try:
            cert = x509.load_pem_x509_certificate(bytes(body))
        except ValueError:
            raise SnsRejected("certificate does not parse") from None
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
            raise SnsRejected("certificate key is not RSA of 2048 bits or more")
        return _Cached(
            key=key,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            expires=time.monotonic() + self._cache_ttl,
        )


class ConfirmOutcome(StrEnum):
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class ConfirmResult:
    """What ``confirm_subscription`` did, and why (for logs; never sent back to SNS)."""

    outcome: ConfirmOutcome
    reason: str


async def confirm_subscription(
    fields: Mapping[str, str],
    allowed_topic_arns: Collection[str],
    *,
    client: httpx.AsyncClient,
    policy: UrlPolicy = AWS_SNS,
    timeout: float = 5.0,
) -> ConfirmResult:
    """Confirm an SNS subscription by visiting its ``SubscribeURL``.

    Call it only for an envelope ``SnsVerifier.verify`` accepted. The URL is visited
    only for a ``SubscriptionConfirmation`` whose ``TopicArn`` is configured, when the
    URL passes ``policy`` and asks to confirm that very topic; otherwise nothing is
    fetched and the result says why.
    """
    if fields.get("Type") != "SubscriptionConfirmation":
        return ConfirmResult(ConfirmOutcome.REFUSED, "not a SubscriptionConfirmation")
    topic = fields.get("TopicArn", "")
    if topic not in allowed_topic_arns:
        return ConfirmResult(ConfirmOutcome.REFUSED, "topic is not configured")
    try:
        url = policy.check(fields.get("SubscribeURL", ""), pem=False)
    except SnsRejected as exc:
        return ConfirmResult(ConfirmOutcome.REFUSED, f"SubscribeURL: {exc.reason}")
    if url.params.get("Action") != "ConfirmSubscription":
        return ConfirmResult(ConfirmOutcome.REFUSED, "SubscribeURL is not a ConfirmSubscription")
    if url.params.get("TopicArn", topic) != topic:
        return ConfirmResult(ConfirmOutcome.REFUSED, "SubscribeURL names another topic")
    try:
        # the answer (a small XML document) is not read: its status says enough
        async with client.stream("GET", url, timeout=timeout, follow_redirects=False) as answer:
            status = answer.status_code
    except httpx.HTTPError as exc:
        return ConfirmResult(ConfirmOutcome.FAILED, f"GET failed: {type(exc).__name__}")
    if status != 200:
        return ConfirmResult(ConfirmOutcome.FAILED, f"GET answered {status}")
    return ConfirmResult(ConfirmOutcome.CONFIRMED, f"subscribed to {topic}")
