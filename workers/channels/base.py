"""Channel errors (alertmanager's Retrier: retry 5xx and timeouts, stop on 4xx), and
the two HTTP posts the channels share (a paging service's API, a secret webhook URL).

SendError
├── RetryableSendError   try again after a backoff
└── PermanentSendError   the channel refused the page: misconfiguration, do not retry
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx


class SendError(Exception):
    pass


class RetryableSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


def secret_from_env(
    service: str, name: str, environ: Mapping[str, str], *, header: bool = False
) -> str:
    """A paging service's key from ``environ[name]``, stripped; PermanentSendError
    naming the variable when unset or empty, or (``header``: it goes in an HTTP
    header) when it holds spaces or control characters."""
    value = environ.get(name)
    if value is None:
        raise PermanentSendError(f"{service}: environment variable {name} is not set")
    value = value.strip()
    if not value:
        raise PermanentSendError(f"{service}: environment variable {name} is empty")
    if header and (
        not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value)
    ):
        # say so here rather than let the HTTP library quote it
        raise PermanentSendError(
            f"{service}: environment variable {name} holds spaces or control characters"
        )
    return value


def post_api(
    client: httpx.Client,
    url: str,
    body: Any,
    *,
    service: str,
    timeout: float,
    secret: str,
    secret_name: str,
    problem: Callable[[httpx.Response], str],
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> Any:
    """One POST of ``body`` as JSON to a paging service's API (PagerDuty, Opsgenie):
    its decoded answer on 2xx (None when not JSON). 429, 5xx and transport errors
    are retryable; other statuses and an unusable request are not. ``secret`` is
    replaced by ``secret_name`` in every message (a server may echo it)."""

    def redact(text: str) -> str:
        return text.replace(secret, secret_name) if secret else text

    try:
        response = client.post(
            url,
            params=params,
            json=body,
            headers={"User-Agent": "triaged", "Accept": "application/json", **(headers or {})},
            timeout=timeout,
            follow_redirects=False,
        )
    except httpx.TimeoutException as exc:
        raise RetryableSendError(f"{service}: timeout after {timeout:g}s") from exc
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        raise PermanentSendError(redact(f"{service}: {type(exc).__name__}: {exc}")) from exc
    except httpx.HTTPError as exc:
        raise RetryableSendError(redact(f"{service}: {type(exc).__name__}: {exc}")) from exc
    status = response.status_code
    if 200 <= status < 300:
        try:
            return response.json()
        except ValueError:
            return None
    detail = redact(f"{service} HTTP {status}{problem(response)}")
    if status == 429 or status >= 500:
        raise RetryableSendError(detail)
    raise PermanentSendError(detail)


def post_to_secret_url(
    client: httpx.Client,
    environ: Mapping[str, str],
    url_env: str,
    body: Any,
    *,
    service: str,
    timeout: float,
    code: Callable[[httpx.Response], str],
) -> httpx.Response:
    """One POST of ``body`` as JSON to a webhook whose URL is a secret (Slack, Teams):
    the URL comes from ``environ[url_env]`` and is never quoted (messages name the
    variable). The answer when below 300; 429, 5xx and transport errors are
    retryable; other statuses (with ``code``, the service's error code if any) and
    an unset or unusable URL are not."""
    url = environ.get(url_env, "").strip()
    if not url:
        raise PermanentSendError(f"environment variable {url_env} is not set")
    try:
        response = client.post(
            url,
            json=body,
            headers={"User-Agent": "triaged"},
            timeout=timeout,
            follow_redirects=False,
        )
    except httpx.TimeoutException as exc:
        raise RetryableSendError(f"timeout after {timeout:g}s") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise PermanentSendError(f"the URL in {url_env} is not usable") from exc
    except httpx.HTTPError as exc:
        raise RetryableSendError(f"{type(exc).__name__} posting to {service}") from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableSendError(f"HTTP {status}")
    if status >= 300:
        found = code(response)
        raise PermanentSendError(f"HTTP {status}: {found}" if found else f"HTTP {status}")
    return response
