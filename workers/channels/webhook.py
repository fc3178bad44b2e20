"""The webhook channel: the page as JSON, with an Idempotency-Key header."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from rules.schema import WebhookChannel
from workers.channels.base import PermanentSendError, RetryableSendError
from workers.page import Page


def send(
    spec: WebhookChannel,
    page: Page,
    idempotency_key: str,
    client: httpx.Client,
    environ: Mapping[str, str] | None = None,
) -> str:
    """POST the page; return a short detail on success."""
    try:
        response = client.post(
            str(spec.webhook),
            content=page.model_dump_json(),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
                "User-Agent": "triaged",
            },
            timeout=spec.timeout.total_seconds(),
            follow_redirects=False,
        )
    except httpx.TimeoutException as exc:
        raise RetryableSendError(f"timeout after {spec.timeout.total_seconds():g}s") from exc
    except httpx.HTTPError as exc:
        raise RetryableSendError(f"{type(exc).__name__}: {exc}"[:200]) from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableSendError(f"HTTP {status}")
    if status >= 300:
        raise PermanentSendError(f"HTTP {status}: {response.text[:120]}")
    return f"HTTP {status}"
