"""AWS SNS in front of the cloudwatch source: signatures, topics, the handshake.

Every SNS envelope must carry a valid signature (``receiver.sns.SnsVerifier``: the
signing certificate is fetched only from SNS's own hosts) and come from a topic
``sources.cloudwatch.sns.topic_arns`` lists; anything else is 401 ``authentication
failed``, with the reason in the log only. A ``SubscriptionConfirmation`` is
confirmed (its SubscribeURL visited) and answered 200; an ``UnsubscribeConfirmation``
is answered 200 and stored nowhere; a ``Notification`` goes on to ingest.

Raw message delivery has no envelope and so no signature: it is accepted only when
the source has ``auth`` configured (SNS sends the basic-auth credentials of its
endpoint URL, ``https://user:password@host/api/v1/alerts/cloudwatch``).
A certificate that could not be fetched is a 503, so that SNS retries.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from aiohttp import web

from receiver.errors import Overloaded, Unauthorized
from receiver.ingest import to_payload
from receiver.intake import Intake
from receiver.sns import (
    AWS_SNS,
    ConfirmOutcome,
    SnsRejected,
    SnsVerifier,
    UrlPolicy,
    confirm_subscription,
)
from receiver.sources.cloudwatch import sns_message

log = logging.getLogger(__name__)


class SnsGate:
    """One per receiver process: the verifier (its certificate cache) and a client."""

    def __init__(
        self,
        policy: UrlPolicy = AWS_SNS,
        require_v2: bool = False,
        verify: ssl.SSLContext | bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.client = httpx.AsyncClient(
            trust_env=False, follow_redirects=False, timeout=5.0, verify=verify
        )
        self.verifier = SnsVerifier(client=self.client, policy=policy, require_v2=require_v2)

    async def aclose(self) -> None:
        await self.client.aclose()

    def require_v2(self, required: bool) -> None:
        """Refuse SignatureVersion 1 from now on (the rules were reloaded)."""
        self.verifier.require_v2 = required

    async def admit(self, intake: Intake, body: bytes) -> web.Response | None:
        """None when the post goes on to ingest; else the answer to send."""
        message = sns_message(to_payload(intake.source, body))
        if message is None:
            if intake.auth is None:
                log.warning("cloudwatch: raw SNS delivery refused: no auth configured for it")
                raise Unauthorized("authentication failed")
            return None
        topics = intake.sns.topic_arns if intake.sns is not None else []
        if message.topic_arn not in topics:
            log.warning(
                "cloudwatch: SNS message from a topic not configured: %s", message.topic_arn
            )
            raise Unauthorized("authentication failed")
        try:
            await self.verifier.verify(message.fields, now=self.clock())
        except SnsRejected as exc:
            if exc.retryable:
                log.warning("cloudwatch: SNS signing certificate unavailable: %s", exc.reason)
                raise Overloaded(
                    "SNS signing certificate unavailable; retry", retry_after=5
                ) from exc
            log.warning("cloudwatch: SNS message refused: %s", exc.reason)
            raise Unauthorized("authentication failed") from exc
        if message.type == "Notification":
            return None
        if message.type == "SubscriptionConfirmation":
            result = await confirm_subscription(
                message.fields, topics, client=self.client, policy=self.policy
            )
            log.info(
                "cloudwatch: SNS subscription to %s %s: %s",
                message.topic_arn,
                result.outcome.value,
                result.reason,
            )
            if result.outcome is ConfirmOutcome.FAILED:
                raise Overloaded("could not confirm the SNS subscription; retry", retry_after=5)
            if result.outcome is ConfirmOutcome.REFUSED:
                raise Unauthorized("authentication failed")
            return web.json_response({"status": "subscription confirmed"})
        return web.json_response({"status": "ignored", "type": message.type})
