"""Incidents: list, one with its timeline, acknowledge, resolve."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from receiver.api.keys import STORE
from receiver.errors import IncidentNotFound, PayloadError
from receiver.incidents.store import IncidentDetail
from receiver.ingest import parse_json, validation_errors
from receiver.model import Incident, IncidentStatus

routes = web.RouteTableDef()

# Ids are hex (receiver.incidents.codec.new_incident_id). Anything else is not an
# incident, and must not reach Redis: "<id>:alerts" would name another of its keys.
_INCIDENT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _incident_id(request: web.Request) -> str:
    incident_id = request.match_info["id"]
    if not _INCIDENT_ID.fullmatch(incident_id):
        raise IncidentNotFound("no such incident", incident_id=incident_id[:128])
    return incident_id


class TransitionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(default="api", min_length=1, max_length=200)
    note: str = Field(default="", max_length=2000)


def incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "status": incident.status.value,
        "severity": incident.severity.value,
        "summary": incident.summary,
        "labels": incident.labels,
        "source": incident.source,
        "created_at": incident.created_at.isoformat(),
        "updated_at": incident.updated_at.isoformat(),
        "acknowledged_by": incident.acknowledged_by,
        "acknowledged_at": _iso(incident.acknowledged_at),
        "resolved_at": _iso(incident.resolved_at),
        "first_page_at": _iso(incident.first_page_at),
    }


def detail_json(detail: IncidentDetail) -> dict[str, Any]:
    d = detail.incident.decision
    return {
        **incident_json(detail.incident),
        "decision": {
            "rule": d.rule,
            "severity": d.severity.value,
            "why": d.why,
            "rules_version": d.rules_version,
            "probes": [p.name for p in d.probes],
            "escalation": [
                {"after_seconds": s.after_seconds, "notify": [c.name for c in s.contacts]}
                for s in d.steps
            ],
        },
        "alerts": [
            {
                "fingerprint": a.fingerprint,
                "status": a.status.value,
                "labels": a.labels,
                "annotations": a.annotations,
                "starts_at": a.starts_at,
                "ends_at": a.ends_at,
                "severity": a.severity.value,
                "rule": a.rule,
            }
            for a in detail.alerts
        ],
        "timeline": [
            {"time": e.at.isoformat(), "kind": e.kind, "detail": e.detail, **e.data}
            for e in detail.timeline
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@routes.get("/api/v1/incidents")
async def list_incidents(request: web.Request) -> web.Response:
    raw = request.query.get("status")
    try:
        status = IncidentStatus(raw) if raw else None
    except ValueError as exc:
        raise PayloadError(
            f"status must be one of {[s.value for s in IncidentStatus]}", field="status"
        ) from exc
    incidents = await request.app[STORE].list(status)
    return web.json_response({"incidents": [incident_json(i) for i in incidents]})


@routes.get("/api/v1/incidents/{id}")
async def get_incident(request: web.Request) -> web.Response:
    detail = await request.app[STORE].get(_incident_id(request))
    return web.json_response(detail_json(detail))


async def _transition(request: web.Request, action: str) -> web.Response:
    incident_id = _incident_id(request)
    raw = await request.read()
    try:
        body = TransitionBody.model_validate(parse_json(raw) if raw.strip() else {})
    except ValidationError as exc:
        errors = validation_errors(exc)
        raise PayloadError(f"{errors[0]['field']}: {errors[0]['error']}", errors=errors) from exc
    store = request.app[STORE]
    await store.transition(incident_id, action, body.by, body.note, datetime.now(UTC))
    detail = await store.get(incident_id)
    return web.json_response(detail_json(detail))


@routes.post("/api/v1/incidents/{id}/ack")
async def ack_incident(request: web.Request) -> web.Response:
    return await _transition(request, "ack")


@routes.post("/api/v1/incidents/{id}/resolve")
async def resolve_incident(request: web.Request) -> web.Response:
    return await _transition(request, "resolve")
