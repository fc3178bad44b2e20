"""Errors to JSON answers, and the bearer-token guard, in one place each."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from receiver.api.keys import SETTINGS
from receiver.errors import ReceiverError, Unauthorized

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Paths that change state without the API token: alert intake (senders have their
# own auth, see sources) and signed acknowledge links (the signature is the auth).
_OPEN_PREFIXES = ("/api/v1/alerts/", "/ack/")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain errors and aiohttp's HTTP errors into JSON bodies."""
    try:
        return await handler(request)
    except ReceiverError as exc:
        body = {"error": exc.message, **exc.details}
        retry_after = str(exc.details.get("retry_after", 5))
        headers = {"Retry-After": retry_after} if exc.status == 503 else None
        return web.json_response(body, status=exc.status, headers=headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = exc.headers.get("Allow")
        return web.json_response(
            {"error": exc.reason}, status=exc.status, headers={"Allow": allow} if allow else None
        )
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require ``Authorization: Bearer <TRIAGED_API_TOKEN>`` on state-changing calls."""
    token = request.app[SETTINGS].api_token
    if (
        token is not None
        and request.method not in ("GET", "HEAD", "OPTIONS")
        and not request.path.startswith(_OPEN_PREFIXES)
    ):
        # aiohttp hands non-UTF-8 header bytes over as surrogates: compare bytes, and
        # let such a header fail the comparison rather than the encoding (a 500)
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogatepass")
        expected = f"Bearer {token.get_secret_value()}".encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(given, expected):
            raise Unauthorized("missing or wrong bearer token")
    return await handler(request)
