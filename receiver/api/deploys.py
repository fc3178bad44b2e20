"""Deploys, recorded by CI/CD pipelines for the ``deploys`` probe.

    POST /api/v1/deploys  {"service": "checkout", "version": "v2.3.1",
                           "environment": "prod", "who": "ci", "when": "2026-...Z",
                           "link": "https://ci.example/run/123"}
    GET  /api/v1/deploys?service=checkout

POST changes state: with ``TRIAGED_API_TOKEN`` set it needs the bearer token.
``when`` defaults to now; deploys are kept 30 days (the newest 1,000 per service).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from receiver.api.keys import STORE
from receiver.errors import PayloadError
from receiver.ingest import invalid_body, parse_json

routes = web.RouteTableDef()


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=200)
    environment: str | None = Field(default=None, max_length=100)
    who: str | None = Field(default=None, max_length=200)
    when: datetime | None = None
    link: str | None = Field(default=None, max_length=2048)

    @field_validator("link")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("an http(s) URL")
        return value

    @field_validator("when")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("a time with its zone (e.g. 2026-11-26T10:00:00Z)")
        return value


@routes.post("/api/v1/deploys")
async def post_deploy(request: web.Request) -> web.Response:
    try:
        body = DeployBody.model_validate(parse_json(await request.read()))
    except ValidationError as exc:
        raise invalid_body("deploy", exc) from exc
    at = (body.when or datetime.now(UTC)).timestamp()
    deploy: dict[str, Any] = {
        "id": secrets.token_hex(6),
        **body.model_dump(mode="json", exclude={"when"}, exclude_none=True),
        "at": at,
    }
    await request.app[STORE].record_deploy(body.service, deploy, at)
    return web.json_response({"status": "recorded", "id": deploy["id"]}, status=201)


@routes.get("/api/v1/deploys")
async def list_deploys(request: web.Request) -> web.Response:
    service = request.query.get("service", "")
    if not service or len(service) > 200:
        raise PayloadError("give ?service= (1 to 200 characters)", field="service")
    return web.json_response({"deploys": await request.app[STORE].deploys(service)})
