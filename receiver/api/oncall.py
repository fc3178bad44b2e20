"""GET /api/v1/oncall: who is on call now and next, per rotation of the rules."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from receiver.api.keys import LIVE
from receiver.errors import PayloadError
from rules.rotations import on_call_now_and_next

routes = web.RouteTableDef()


@routes.get("/api/v1/oncall")
async def oncall(request: web.Request) -> web.Response:
    """``?at=<ISO 8601 with zone>`` asks about another moment (default: now)."""
    at = datetime.now(UTC)
    if "at" in request.query:
        try:
            at = datetime.fromisoformat(request.query["at"])
        except ValueError as exc:
            raise PayloadError("at: an ISO 8601 time with its zone", field="at") from exc
        if at.tzinfo is None:
            raise PayloadError("at: give the time zone (e.g. ...Z or +01:00)", field="at")
    rotations = request.app[LIVE].current.ruleset.rotations
    return web.json_response(
        {
            "at": at.isoformat(),
            "rotations": {
                name: on_call_now_and_next(r, at) for name, r in sorted(rotations.items())
            },
        }
    )
