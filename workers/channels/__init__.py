"""Notification channels: ``send(spec, page, idempotency_key, client, environ)``.

A channel raises RetryableSendError (5xx, 429, timeout, refused) or
PermanentSendError (other 4xx); it never retries by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workers.channels import email, log, opsgenie, pagerduty, slack, teams, webhook

SENDERS: dict[str, Callable[..., Any]] = {
    "webhook": webhook.send,
    "log": log.send,
    "email": email.send,
    "slack": slack.send,
    "teams": teams.send,
    "pagerduty": pagerduty.send,
    "opsgenie": opsgenie.send,
}

# channels that keep incidents of their own, told when ours is acknowledged or resolved:
# notify_state(spec, incident_id, action, by, client, environ)
MIRRORED: dict[str, Callable[..., Any]] = {
    "pagerduty": pagerduty.notify_state,
    "opsgenie": opsgenie.notify_state,
}
