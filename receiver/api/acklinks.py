"""The page's ack_url: GET shows a confirmation page, POST acknowledges."""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime

from aiohttp import web

from receiver import acklink
from receiver.api.keys import SETTINGS, STORE
from receiver.errors import TransitionRefused, Unauthorized

routes = web.RouteTableDef()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>triaged: {title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = _PAGE.format(title=html.escape(title), body=body)
    return web.Response(text=text, content_type="text/html", status=status)


def _verify(request: web.Request) -> tuple[str, str]:
    incident_id = request.match_info["id"]
    contact = request.match_info["contact"]
    key = request.app[SETTINGS].ack_key.get_secret_value().encode()
    why = acklink.verify(
        key,
        incident_id,
        contact,
        request.query.get("exp", ""),
        request.query.get("sig", ""),
        time.time(),
    )
    if why:
        raise Unauthorized(f"acknowledge link refused: {why}")
    return incident_id, contact


@routes.get("/ack/{id}/{contact}")
async def confirm(request: web.Request) -> web.Response:
    incident_id, contact = _verify(request)
    detail = await request.app[STORE].get(incident_id)
    inc = detail.incident
    facts = (
        f"<p><b>{html.escape(inc.severity.value)}</b> {html.escape(inc.summary)}</p>"
        f"<p>Status: {html.escape(inc.status.value)}</p>"
    )
    form = (
        f'<form method="post" action="{html.escape(request.path_qs)}">'
        f'<button type="submit">Acknowledge as {html.escape(contact)}</button></form>'
    )
    return _page(f"Acknowledge incident {incident_id}", facts + form)


@routes.post("/ack/{id}/{contact}")
async def acknowledge(request: web.Request) -> web.Response:
    incident_id, contact = _verify(request)
    store = request.app[STORE]
    try:
        await store.transition(incident_id, "ack", contact, "via page link", datetime.now(UTC))
    except TransitionRefused as exc:
        detail = await store.get(incident_id)
        who = detail.incident.acknowledged_by or "someone"
        return _page(
            "Already handled",
            f"<p>This incident is {html.escape(str(exc.details.get('status')))}"
            f" (by {html.escape(who)}). Nothing more is paged.</p>",
            status=409,
        )
    return _page("Acknowledged", f"<p>Thank you, {html.escape(contact)}. Escalation stopped.</p>")
