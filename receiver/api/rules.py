"""The running rules: GET /api/v1/rules, POST /api/v1/rules/reload, and the shadow
rules' disagreements, GET /api/v1/rules/shadow."""

from __future__ import annotations

import os
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from receiver.api.keys import LIVE, STORE
from receiver.errors import PayloadError, RulesRejected, StoreUnavailable
from receiver.incidents import keys
from receiver.incidents.history import parse_disagreement
from receiver.live import shown_errors
from rules import RuleSet

routes = web.RouteTableDef()

SHADOW_SHOWN = 100  # disagreements shown by default (at most 1,000)


def _rules(ruleset: RuleSet) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "severity": r.severity.value,
            "matchers": [str(m) for m in r.matchers],
            "probes": list(r.probes),
            "policy": r.policy,
            "regrade": [
                {"when": g.when, "probes": list(g.probes), "severity": g.severity}
                for g in r.regrade
            ],
            "source": f"{r.source} #{r.position}",
        }
        for r in ruleset.rules
    ]


@routes.get("/api/v1/rules")
async def show(request: web.Request) -> web.Response:
    """The loaded version, when it was loaded, the last reload, and the rules in order."""
    live = request.app[LIVE]
    loaded = live.current
    ruleset = loaded.ruleset
    shadow = loaded.shadow
    return web.json_response(
        {
            "version": ruleset.version,
            "loaded_at": loaded.loaded_at.isoformat(),
            "pid": os.getpid(),  # the process that answered (each reloads on its own)
            "directory": str(live.directory) if live.directory else None,
            "files": list(ruleset.source_files),
            "last_reload": {
                "at": live.last_reload_at.isoformat() if live.last_reload_at else None,
                "reason": live.last_reason,
                "ok": not live.errors,
                "errors": shown_errors(live.errors),
            },
            "default_severity": ruleset.default_severity.value,
            "rules": _rules(ruleset),
            "shadow": None
            if shadow is None and live.shadow_dir is None
            else {
                "directory": str(live.shadow_dir) if live.shadow_dir else None,
                "version": shadow.version if shadow else None,
                "errors": shown_errors(live.shadow_errors),
            },
        }
    )


@routes.post("/api/v1/rules/reload")
async def reload(request: web.Request) -> web.Response:
    """Reload now. 200 with the version (``reloaded`` or ``unchanged``); 422 with
    every error when the files do not load (the old rules keep running)."""
    outcome = await request.app[LIVE].reload("POST /api/v1/rules/reload")
    if not outcome.ok:
        raise RulesRejected(
            "the rules do not load; the running rules stay",
            errors=shown_errors(outcome.errors),
            version=outcome.version,
        )
    status = "reloaded" if outcome.changed else "unchanged"
    return web.json_response({"status": status, "version": outcome.version})


@routes.get("/api/v1/rules/shadow")
async def shadow(request: web.Request) -> web.Response:
    """The newest alerts on which the shadow rules disagreed (``?limit=``, newest first)."""
    text = request.query.get("limit", str(SHADOW_SHOWN))
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise PayloadError("limit: a whole number from 1 to 1000", field="limit")
    try:
        redis = request.app[STORE].redis
        rows: list[tuple[Any, dict[Any, Any]]] = await redis.xrevrange(  # type: ignore[assignment]
            keys.shadow(), count=int(text)
        )
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(f"incident store unavailable: {type(exc).__name__}") from exc
    live = request.app[LIVE].current
    found = []
    for entry_id, fields in rows:
        d = parse_disagreement(entry_id, fields)
        found.append(
            {
                "received_at": d.at.isoformat(),
                "source": d.source,
                "incident": d.incident,
                "labels": d.labels,
                "live": d.live.model_dump(mode="json"),
                "shadow": d.shadow.model_dump(mode="json"),
                "differs": d.live.differs(d.shadow),
            }
        )
    return web.json_response(
        {
            "shadow_version": live.shadow.version if live.shadow else None,
            "disagreements": found,
        }
    )
