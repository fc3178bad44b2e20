import os, signal, time
from typing import Any
from pathlib import Path
from tests.integration.conftest import *  # noqa
from tests.integration.conftest import body, checkout_payload
from receiver.supervisor import EmbeddedRedis
from receiver.api.app import create_app

J = {"Content-Type": "application/json"}

async def test_probe(aiohttp_client: Any, tmp_path: Path, ruleset: Any) -> None:
    srv = EmbeddedRedis(tmp_path / "r")
    url = srv.start()
    try:
        client = await aiohttp_client(create_app(Settings(redis_url=url), ruleset))
        r = await client.post("/api/v1/alerts/alertmanager", data=body(checkout_payload()), headers=J)
        print(r.status, await r.text())
        srv.stop()
        for i in range(3):
            t = time.monotonic()
            r = await client.post("/api/v1/alerts/alertmanager", data=body(checkout_payload(x=str(i))), headers=J)
            print("down", r.status, round(time.monotonic()-t,2), dict(r.headers), await r.text())
        for p in ("/alive", "/health", "/metrics", "/api/v1/incidents"):
            t = time.monotonic()
            r = await client.get(p)
            print(p, r.status, round(time.monotonic()-t,2), (await r.text())[:150])
        srv.start()
        for i in range(3):
            t = time.monotonic()
            r = await client.post("/api/v1/alerts/alertmanager", data=body(checkout_payload(y=str(i))), headers=J)
            print("up", r.status, round(time.monotonic()-t,2), await r.text())
        print((await (await client.get("/api/v1/incidents")).text())[:300])
        os.kill(srv.process.pid, signal.SIGSTOP)
        try:
            for i in range(2):
                t = time.monotonic()
                r = await client.post("/api/v1/alerts/alertmanager", data=body(checkout_payload(z=str(i))), headers=J)
                print("stopped", r.status, round(time.monotonic()-t,2), await r.text())
            t = time.monotonic()
            r = await client.post("/api/v1/alerts/alertmanager", data=b"{", headers=J)
            print("stopped bad", r.status, round(time.monotonic()-t,2), await r.text())
            t = time.monotonic()
            r = await client.get("/health")
            print("stopped health", r.status, round(time.monotonic()-t,2), await r.text())
        finally:
            os.kill(srv.process.pid, signal.SIGCONT)
        for i in range(3):
            t = time.monotonic()
            r = await client.post("/api/v1/alerts/alertmanager", data=body(checkout_payload(w=str(i))), headers=J)
            print("cont", r.status, round(time.monotonic()-t,2), await r.text())
    finally:
        srv.stop()
