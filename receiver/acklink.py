"""Signed acknowledge links: bound to one incident and one contact, expiring.

A link is ``{public_url}/ack/{incident_id}/{contact}?exp=<unix>&sig=<hex>`` where
``sig = HMAC-SHA256(key, "incident|contact|exp")``. Pure: key and clock passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

DEFAULT_TTL_SECONDS = 7 * 24 * 3600


def sign(key: bytes, incident_id: str, contact: str, expires: int) -> str:
    msg = f"{incident_id}|{contact}|{expires}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def make_url(
    public_url: str,
    key: bytes,
    incident_id: str,
    contact: str,
    now: float,
    ttl: int = DEFAULT_TTL_SECONDS,
) -> str:
    """Return the signed acknowledge URL for ``contact`` on ``incident_id``."""
    expires = int(now) + ttl
    query = urlencode({"exp": expires, "sig": sign(key, incident_id, contact, expires)})
    return (
        f"{public_url.rstrip('/')}/ack/{quote(incident_id, safe='')}/"
        f"{quote(contact, safe='')}?{query}"
    )


def verify(key: bytes, incident_id: str, contact: str, exp: str, sig: str, now: float) -> str:
    """Return '' when the link is valid, else why not ('expired', 'bad signature')."""
    if not key:
        return "no acknowledge key configured"
    try:
        expires = int(exp)
    except ValueError:
        return "bad signature"
    expected = sign(key, incident_id, contact, expires)
    # bytes: compare_digest refuses non-ASCII str (a sig from the query string may be any)
    if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "surrogatepass")):
        return "bad signature"
    if now > expires:
        return "expired"
    return ""
