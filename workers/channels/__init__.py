"""Notification channels: ``send(spec, page, idempotency_key, client)``.

A channel raises RetryableSendError (5xx, 429, timeout, refused) or
PermanentSendError (other 4xx); it never retries by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workers.channels import log, webhook

SENDERS: dict[str, Callable[..., Any]] = {"webhook": webhook.send, "log": log.send}
