"""The runbook's communication templates, for a human to copy, and their publication
to Redis for the workers (the stakeholder notification goes out with first pages).

    GET /api/v1/incidents/{id}/updates/{template}
        template: internal_status | user_status | stakeholder | post_incident

Rendered in Jinja2's sandbox (receiver.updates) off the event loop. A template
that fails gives the built-in text instead, with the failure in the
``X-Triaged-Template-Error`` header, and is counted.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from receiver import stats, updates
from receiver.api.incidents import _incident_id
from receiver.api.keys import LIVE, STORE
from receiver.errors import IncidentNotFound
from receiver.incidents import keys
from rules import RuleSet

routes = web.RouteTableDef()


@routes.get("/api/v1/incidents/{id}/updates/{template}")
async def update(request: web.Request) -> web.Response:
    incident_id = _incident_id(request)
    name = request.match_info["template"]
    sources = request.app[LIVE].current.templates
    if name not in updates.TEMPLATES or name not in sources:
        raise IncidentNotFound(f"no template {name!r}", known=list(updates.TEMPLATES))
    detail = await request.app[STORE].get(incident_id)
    now = datetime.now(UTC)
    args = (detail.incident, detail.alerts, detail.timeline, now)
    headers = {}
    try:
        text = await asyncio.to_thread(updates.render, name, sources[name], *args)
    except updates.TemplateFailed as exc:
        text = updates.builtin(name, *args)
        headers["X-Triaged-Template-Error"] = str(exc)[:300].replace("\n", " ")
        await request.app[STORE].add_stats(
            stats.count("triaged_templates_failed_total", template=name)
        )
    return web.Response(text=text, content_type="text/plain", headers=headers)


async def publish(redis: Any, ruleset: RuleSet, sources: dict[str, str]) -> None:
    """The templates and who the stakeholder notification goes to, for the workers."""
    config: dict[str, Any] | None = None
    if ruleset.stakeholders is not None:
        config = {
            "severities": [s.value for s in ruleset.stakeholders.severities],
            "contacts": [
                ruleset.contact(n).model_dump(mode="json") for n in ruleset.stakeholders.notify
            ],
        }
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.templates())
        if sources:
            pipe.hset(keys.templates(), mapping=sources)
        pipe.set(keys.stakeholders(), json.dumps(config))
        await pipe.execute()
