"""Every typed web.AppKey of the application."""

from __future__ import annotations

import asyncio

from aiohttp import web

from receiver.api.sns_gate import SnsGate
from receiver.incidents.store import AsyncIncidentStore
from receiver.intake import Intake
from receiver.repeats import RepeatCache
from receiver.settings import Settings
from rules import RuleSet

SETTINGS = web.AppKey("settings", Settings)
RULESET = web.AppKey("ruleset", RuleSet)
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

INTAKES = web.AppKey("intakes", dict[str, Intake])

# the SNS gate of the cloudwatch source (see sns_gate); certificates from AWS only
SNS_GATE = web.AppKey("sns_gate", SnsGate)

# the communication templates (name -> Jinja2 source) of the rules directory
TEMPLATES = web.AppKey("templates", dict[str, str])
