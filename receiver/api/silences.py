"""Silences through the API (beside those of the rule files), kept in Redis where the
workers read them before each page.

    POST   /api/v1/silences          {name, matchers, comment, author,
                                      starts_at + ends_at | every: {weekdays, start, end, timezone}}
    GET    /api/v1/silences          every silence, API and rule files, and whether it holds now
    DELETE /api/v1/silences/{id}     an API silence (rule-file silences live in the files)

POST and DELETE change state: with ``TRIAGED_API_TOKEN`` set they need the token.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from receiver.api.keys import STORE
from receiver.errors import IncidentNotFound, TransitionRefused
from receiver.incidents import keys
from receiver.ingest import invalid_body, parse_json
from rules.silences import Inhibition, Silence, window_at

routes = web.RouteTableDef()
_ID = re.compile(r"[A-Za-z0-9:_-]{1,200}")


def stored(silence_id: str, silence: Silence) -> str:
    return json.dumps(
        {
            "id": silence_id,
            "silence": silence.model_dump(mode="json"),
            "created_at": datetime.now(UTC).isoformat(),
        }
    )


def shown(raw: str, origin: str, now: datetime) -> dict[str, Any]:
    item = json.loads(raw)
    silence = Silence.model_validate(item["silence"])
    window = window_at(silence, now)
    return {
        "id": item["id"],
        "origin": origin,
        **item["silence"],
        "active": window is not None,
        "window": [w.isoformat() for w in window] if window else None,
    }


@routes.post("/api/v1/silences")
async def create(request: web.Request) -> web.Response:
    try:
        silence = Silence.model_validate(parse_json(await request.read()))
    except ValidationError as exc:
        raise invalid_body("silence", exc) from exc
    silence_id = secrets.token_hex(6)
    redis = request.app[STORE].redis
    await redis.hset(keys.silences("api"), silence_id, stored(silence_id, silence))
    return web.json_response(
        {"id": silence_id, "silence": silence.model_dump(mode="json")}, status=201
    )


@routes.get("/api/v1/silences")
async def list_silences(request: web.Request) -> web.Response:
    redis = request.app[STORE].redis
    now = datetime.now(UTC)
    out = []
    for origin in ("files", "api"):
        raw = await redis.hgetall(keys.silences(origin))
        out += [shown(v, origin, now) for v in raw.values()]
    return web.json_response({"silences": sorted(out, key=lambda s: (s["origin"], s["name"]))})


@routes.delete("/api/v1/silences/{id}")
async def delete(request: web.Request) -> web.Response:
    silence_id = request.match_info["id"]
    if not _ID.fullmatch(silence_id):
        raise IncidentNotFound("no such silence", silence_id=silence_id[:200])
    redis = request.app[STORE].redis
    if await redis.hexists(keys.silences("files"), silence_id):
        raise TransitionRefused("this silence is defined in the rule files: remove it there")
    if not await redis.hdel(keys.silences("api"), silence_id):
        raise IncidentNotFound("no such silence", silence_id=silence_id)
    return web.json_response({"status": "deleted", "id": silence_id})


async def publish_file_silences(
    redis: Any, silences: tuple[Silence, ...], inhibitions: tuple[Inhibition, ...] = ()
) -> None:
    """Make the rule files' silences and inhibition rules the ones in Redis (replacing
    those of older rules), in one step: workers read them there before each page."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.silences("files"))
        for s in silences:
            pipe.hset(keys.silences("files"), f"file:{s.name}", stored(f"file:{s.name}", s))
        pipe.set(keys.inhibitions(), json.dumps([i.model_dump(mode="json") for i in inhibitions]))
        await pipe.execute()
