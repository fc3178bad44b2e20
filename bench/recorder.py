"""The page recorder and probe target: an aiohttp server in the benchmark's own loop.

- ``POST /page/{contact}``: a page; its arrival time is taken when the handler starts
  (headers parsed, before the body is read), then it answers 200 at once.
- ``GET /probe``: the probe target, answers 200 at once.

Both clocks are kept: ``time.monotonic()`` (compared with the POST's send time, same
process) and ``time.time()`` (compared with the due times triaged writes on incident
timelines, which are wall-clock).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class Page:
    contact: str
    incident_id: str
    step: int
    reason: str
    mono: float
    wall: float
    idempotency_key: str


class Recorder:
    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.probes = 0
        self._by_key: dict[tuple[str, str], Page] = {}
        self._waiters: dict[tuple[str, str], asyncio.Future[Page]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _page(self, request: web.Request) -> web.Response:
        mono, wall = time.monotonic(), time.time()
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        page = Page(
            contact=request.match_info["contact"],
            incident_id=str(body.get("incident_id", "")),
            step=int(body.get("escalation_step", -1)),
            reason=str(body.get("reason", "")),
            mono=mono,
            wall=wall,
            idempotency_key=request.headers.get("Idempotency-Key", ""),
        )
        self.pages.append(page)
        key = (page.contact, page.incident_id)
        self._by_key.setdefault(key, page)
        waiter = self._waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(self._by_key[key])
        return web.json_response({"ok": True})

    async def _probe(self, request: web.Request) -> web.Response:
        self.probes += 1
        return web.json_response({"status": "ok"})

    async def start(self) -> Recorder:
        app = web.Application()
        app.router.add_post("/page/{contact}", self._page)
        app.router.add_get("/probe", self._probe)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def first(self, contact: str, incident_id: str) -> Page | None:
        return self._by_key.get((contact, incident_id))

    async def wait(self, contact: str, incident_id: str, timeout: float) -> Page | None:
        """The first page of ``incident_id`` to ``contact``, or None after ``timeout``."""
        key = (contact, incident_id)
        if key in self._by_key:
            return self._by_key[key]
        waiter = self._waiters.setdefault(key, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return self._by_key.get(key)

    def count(self, contact: str) -> int:
        return sum(1 for p in self.pages if p.contact == contact)

    def incidents(self, contact: str) -> set[str]:
        return {p.incident_id for p in self.pages if p.contact == contact}
