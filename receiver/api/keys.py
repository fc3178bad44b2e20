"""Every typed web.AppKey of the application."""

from __future__ import annotations

import asyncio

from aiohttp import web

from receiver.incidents.store import AsyncIncidentStore
from receiver.settings import Settings
from rules import RuleSet

SETTINGS = web.AppKey("settings", Settings)
RULESET = web.AppKey("ruleset", RuleSet)
STORE = web.AppKey("store", AsyncIncidentStore)
OUTBOX_WAKE = web.AppKey("outbox_wake", asyncio.Event)
DRAINING = web.AppKey("draining", asyncio.Event)
