"""TRIAGED_API_TOKEN guards acknowledge/resolve (not alert intake, not reads), and the
signed ack_url of a real page: GET confirms, POST acknowledges, nothing else does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from receiver import acklink
from receiver.api.app import create_app
from receiver.settings import Settings
from rules import RuleSet
from tests.integration.conftest import body, checkout_payload, drained
from tests.support.page_receiver import PageReceiver
from tests.support.payloads import alertmanager_payload, group_key_for

JSON = {"Content-Type": "application/json"}
TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUBLIC = "http://127.0.0.1:9797"


@pytest.fixture
async def client(
    aiohttp_client: Any, settings: Settings, ruleset: RuleSet, redis_client: redis.Redis
) -> Any:
    """The real app with TRIAGED_API_TOKEN set (same ack key as the workers' settings)."""
    secured = settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    return await aiohttp_client(create_app(secured, ruleset))


def payload_of_group(alertname: str, summary: str) -> dict[str, Any]:
    """A notification of its own Alertmanager group (so: its own incident)."""
    alert = {
        "labels": {"alertname": alertname, "service": "checkout"},
        "annotations": {"summary": summary},
    }
    return alertmanager_payload([alert], group_key=group_key_for({"alertname": alertname}))


async def open_incident(client: Any, payload: dict[str, Any] | None = None) -> str:
    resp = await client.post(
        "/api/v1/alerts/alertmanager", data=body(payload or checkout_payload()), headers=JSON
    )
    assert resp.status == 202, await resp.text()  # intake needs no token
    return str((await resp.json())["incidents"][0]["id"])


async def incident(client: Any, incident_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/incidents/{incident_id}")
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def answer(resp: Any, status: int) -> Any:
    text = await resp.text()
    assert resp.status == status, text
    return (await resp.json()) if resp.content_type == "application/json" else text


async def raw_request(client: Any, head: bytes) -> bytes:
    """Send bytes the client library would refuse to send; return the whole answer."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head + b"Host: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    try:
        return await reader.read()
    finally:
        writer.close()


async def test_reads_and_intake_need_no_token(client: Any) -> None:
    incident_id = await open_incident(client)
    for path in ("/api/v1/incidents", f"/api/v1/incidents/{incident_id}", "/metrics", "/alive"):
        assert (await client.get(path)).status == 200, path


@pytest.mark.parametrize("action", ["ack", "resolve"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": ""}],
    ids=["none", "wrong", "no-scheme", "empty"],
)
async def test_state_changes_need_the_token(client: Any, action: str, headers: Any) -> None:
    incident_id = await open_incident(client)
    refused = await client.post(f"/api/v1/incidents/{incident_id}/{action}", headers=headers)
    assert (await answer(refused, 401))["error"]
    assert (await incident(client, incident_id))["status"] == "open"
    done = await client.post(f"/api/v1/incidents/{incident_id}/{action}", headers=AUTH)
    expected = {"ack": "acknowledged", "resolve": "resolved"}[action]
    assert (await answer(done, 200))["status"] == expected


async def test_undecodable_authorization_header_is_401_not_500(client: Any) -> None:
    incident_id = await open_incident(client)
    head = f"POST /api/v1/incidents/{incident_id}/ack HTTP/1.1\r\n".encode()
    reply = await raw_request(client, head + b"Authorization: Bearer t\xf6ken\r\n")
    assert reply.startswith(b"HTTP/1.1 401 "), reply[:200]
    assert (await incident(client, incident_id))["status"] == "open"


async def test_ack_note_on_timeline_then_conflicts_and_unknown(client: Any) -> None:
    incident_id = await open_incident(client)
    resp = await client.post(
        f"/api/v1/incidents/{incident_id}/ack", json={"by": "alice", "note": "on it"}, headers=AUTH
    )
    acked = await answer(resp, 200)
    assert acked["acknowledged_by"] == "alice"
    last = acked["timeline"][-1]
    assert last["kind"] == "acknowledged"
    assert "alice" in last["detail"] and "on it" in last["detail"]
    again = await client.post(f"/api/v1/incidents/{incident_id}/ack", headers=AUTH)
    assert (await answer(again, 409))["error"]
    resp = await client.post(
        f"/api/v1/incidents/{incident_id}/resolve", json={"by": "bob"}, headers=AUTH
    )
    assert (await answer(resp, 200))["timeline"][-1]["kind"] == "resolved"
    for action in ("ack", "resolve"):
        late = await client.post(f"/api/v1/incidents/{incident_id}/{action}", headers=AUTH)
        assert (await answer(late, 409))["status"] == "resolved"
        unknown = await client.post(f"/api/v1/incidents/0123456789abcdef/{action}", headers=AUTH)
        assert (await answer(unknown, 404))["error"]


@pytest.mark.parametrize("bad", [{"by": 5}, {"by": ""}, {"who": "x"}, ["alice"]])
async def test_bad_transition_body_is_400(client: Any, bad: Any) -> None:
    incident_id = await open_incident(client)
    resp = await client.post(f"/api/v1/incidents/{incident_id}/ack", json=bad, headers=AUTH)
    assert (await answer(resp, 400))["error"]
    assert (await incident(client, incident_id))["status"] == "open"


@pytest.mark.parametrize("suffix", [":alerts", ":timeline"])
async def test_incident_id_cannot_name_another_key(client: Any, suffix: str) -> None:
    incident_id = await open_incident(client)
    resp = await client.get(f"/api/v1/incidents/{incident_id}{suffix}")
    assert (await answer(resp, 404))["error"]


async def paged_link(
    client: Any,
    work: Callable[[], None],
    pages: PageReceiver,
    redis_client: redis.Redis,
    payload: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Open an incident, let the real worker page it; return its id and the page's
    ack_url as a path of this app."""
    incident_id = await open_incident(client, payload)
    await drained(redis_client)
    work()
    [page] = [p for p in pages.requests("/primary") if p.json["incident_id"] == incident_id]
    url = page.json["ack_url"]
    assert url.startswith(f"{PUBLIC}/ack/{incident_id}/primary-oncall?"), url
    return incident_id, url.removeprefix(PUBLIC)


async def test_signed_link_confirms_then_acknowledges_without_token(
    client: Any, work: Any, pages: PageReceiver, redis_client: redis.Redis
) -> None:
    incident_id, link = await paged_link(client, work, pages, redis_client)
    confirm = await client.get(link)
    page = await answer(confirm, 200)
    assert confirm.content_type == "text/html"
    assert '<form method="post"' in page and "Checkout is down" in page
    assert (await incident(client, incident_id))["status"] == "open"  # GET changes nothing
    done = await client.post(link)  # no bearer token: the signature is the credential
    assert "Acknowledged" in await answer(done, 200)
    detail = await incident(client, incident_id)
    assert detail["status"] == "acknowledged"
    assert detail["acknowledged_by"] == "primary-oncall"
    assert detail["timeline"][-1]["kind"] == "acknowledged"
    assert "Already handled" in await answer(await client.post(link), 409)


async def test_tampered_or_expired_links_are_401(
    client: Any, work: Any, pages: PageReceiver, redis_client: redis.Redis
) -> None:
    incident_id, link = await paged_link(client, work, pages, redis_client)
    other = await open_incident(client, payload_of_group("HighErrorRate", "Errors"))
    sig = link.rsplit("sig=", 1)[1]
    key = b"test-ack-key"
    week_ago = acklink.make_url(PUBLIC, key, incident_id, "primary-oncall", time.time() - 8 * 86400)
    fresh = acklink.make_url(PUBLIC, key, incident_id, "primary-oncall", time.time())
    forged = [
        link[:-1] + ("0" if sig[-1] != "0" else "1"),  # one hex digit changed
        link.replace(incident_id, other),  # the same signature on another incident
        link.replace("primary-oncall", "engineering-lead"),  # ... for another contact
        link.replace("exp=", "exp=9"),  # a later expiry
        link.rsplit("sig=", 1)[0] + "sig=%C3%A9",  # not even hex
        week_ago.removeprefix(PUBLIC),  # signed with the right key, but expired
    ]
    for path in forged:
        for method in (client.get, client.post):
            refused = await method(path)
            assert (await answer(refused, 401))["error"], path
    assert "expired" in (await (await client.get(forged[-1])).json())["error"]
    for check in (incident_id, other):
        assert (await incident(client, check))["status"] == "open"
    assert (await client.get(fresh.removeprefix(PUBLIC))).status == 200  # the key was right


async def test_confirmation_page_escapes_the_alert_text(
    client: Any, work: Any, pages: PageReceiver, redis_client: redis.Redis
) -> None:
    hostile = payload_of_group("CheckoutDown", '<script>alert("x")</script> & co')
    _, link = await paged_link(client, work, pages, redis_client, hostile)
    page = await answer(await client.get(link), 200)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
