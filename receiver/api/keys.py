"""Every typed web.AppKey of the application."""

from __future__ import annotations

import asyncio

from aiohttp import web

from receiver.api.sns_gate import SnsGate
from receiver.incidents.store import AsyncIncidentStore
from receiver.live import LiveRules
from receiver.repeats import RepeatCache
from receiver.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
# the rules: read ``app[LIVE].current`` once per request (a reload swaps it whole)
LIVE = web.AppKey("live", LiveRules)
STORE = web.AppKey("store", AsyncIncidentStore)
DRAINING = web.AppKey("draining", asyncio.Event)


class InFlight:
    """Counts alert posts being handled; ``full()`` past the limit (load shedding)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def full(self) -> bool:
        return self.count >= self.limit

    def __enter__(self) -> InFlight:
        self.count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.count -= 1


INFLIGHT = web.AppKey("inflight", InFlight)

REPEATS = web.AppKey("repeats", RepeatCache)

# the SNS gate of the cloudwatch source (see sns_gate); certificates from AWS only
SNS_GATE = web.AppKey("sns_gate", SnsGate)
