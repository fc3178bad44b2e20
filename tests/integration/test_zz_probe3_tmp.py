import asyncio, json
from typing import Any
from pydantic import SecretStr
from tests.integration.conftest import *  # noqa
from tests.integration.conftest import body, checkout_payload
from receiver.api.app import create_app
from receiver.settings import Settings

J = {"Content-Type": "application/json"}

async def raw(client, data: bytes) -> bytes:
    r, w = await asyncio.open_connection(client.server.host, client.server.port)
    w.write(data); await w.drain()
    out = await r.read(); w.close(); return out

async def test_probe(aiohttp_client: Any, redis_url: str, ruleset: Any, redis_client: Any) -> None:
    s = Settings(redis_url=redis_url, ack_key=SecretStr("test-ack-key"), api_token=SecretStr("t0ken"))
    client = await aiohttp_client(create_app(s, ruleset))
    r = await client.post("/api/v1/alerts/alertmanager", data=body(checkout_payload()), headers=J)
    iid = (await r.json())["incidents"][0]["id"]
    A = {"Authorization": "Bearer t0ken"}
    r = await client.post(f"/api/v1/incidents/{iid}/ack", data=json.dumps({"by": "a", "note": "\ud800"}).encode(), headers=A)
    print("ack sur note", r.status, await r.text())
    r = await client.post(f"/api/v1/incidents/{iid}/ack", data=json.dumps({"by": "a\u0000", "note": "x"}).encode(), headers=A)
    print("ack nul by", r.status, (await r.text())[:200])
    out = await raw(client, f"POST /api/v1/incidents/{iid}/ack HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\xf6ken\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode("latin-1"))
    print("auth latin1", out[:300])
    out = await raw(client, f"POST /api/v1/incidents/{iid}/ack HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\u00f6ken\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode("utf-8"))
    print("auth utf8", out[:300])
    for q in ("exp=1&sig=%C3%A9", "exp=abc&sig=00", "sig=00", "exp=99999999999&sig=" + "0"*64, "exp=%F0%9F%98%80&sig=x"):
        r = await client.get(f"/ack/{iid}/primary-oncall?{q}")
        print("link", q, r.status, (await r.text())[:150])
    r = await client.post(f"/ack/{iid}/primary-oncall?exp=1&sig=%C3%A9")
    print("link post", r.status, (await r.text())[:150])
    r = await client.post("/api/v1/incidents/nope/ack", headers=A)
    print("unknown", r.status, await r.text())
    r = await client.post(f"/api/v1/incidents/{iid}/resolve", headers=A, json={"by": "bob"})
    print("resolve", r.status, (await r.text())[:100])
    r = await client.post(f"/api/v1/incidents/{iid}/ack", headers=A)
    print("ack resolved", r.status, await r.text())
    r = await client.post(f"/api/v1/incidents/{iid}/resolve", headers=A)
    print("resolve resolved", r.status, await r.text())
    r = await client.post(f"/api/v1/incidents/{iid}/ack", headers={"Authorization": "bearer t0ken"})
    print("lower bearer", r.status, await r.text())
    r = await client.delete(f"/api/v1/incidents/{iid}")
    print("delete", r.status, await r.text())
    r = await client.post("/metrics")
    print("post metrics", r.status, await r.text())
    r = await client.post("/api/v1/alerts/alertmanager", data=json.dumps({"version":"4","groupKey":"k","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"\ud800"}}]}).encode(), headers=J)
