"""REDIS_URL=redis+sentinel://...: the receiver and the workers find the master
through a real Redis Sentinel (redis-server --sentinel) and page as usual."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from receiver.api.app import create_app
from receiver.redisconn import parse_sentinel_url
from receiver.settings import Settings
from receiver.supervisor import EmbeddedRedis, redis_server_binary
from rules import load_ruleset
from tests.integration.conftest import body, checkout_payload, write_rules
from tests.support.page_receiver import PageReceiver
from tests.support.ports import free_port
from tests.support.wait import wait_until
from workers.main import build_worker


@pytest.fixture
def sentinel_url(tmp_path: Path) -> Iterator[str]:
    master = EmbeddedRedis(tmp_path / "master")
    master.start()
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor triaged 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds triaged 2000\n"
    )
    proc = subprocess.Popen(
        [redis_server_binary(), str(conf), "--sentinel"], stdout=subprocess.DEVNULL
    )
    try:
        client = redis.Redis(port=port, socket_timeout=1)

        def master_known() -> Any:
            try:
                return client.execute_command("SENTINEL", "get-master-addr-by-name", "triaged")
            except redis.RedisError:
                return None

        wait_until(master_known, timeout=20, message="sentinel never answered")
        yield f"redis+sentinel://127.0.0.1:{port}/triaged/0"
    finally:
        proc.terminate()
        proc.wait(10)
        master.stop()


async def test_receiver_and_worker_run_through_sentinel(
    aiohttp_client: Any, sentinel_url: str, rules_dir: Path, pages: PageReceiver
) -> None:
    settings = Settings(redis_url=sentinel_url, ack_key=SecretStr("k"))
    client = await aiohttp_client(create_app(settings, load_ruleset(write_rules(rules_dir, pages))))
    resp = await client.post(
        "/api/v1/alerts/alertmanager",
        data=body(checkout_payload()),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 202
    incident_id = (await resp.json())["incidents"][0]["id"]
    from receiver.jobs import drain_outbox
    from receiver.redisconn import sync_client

    assert drain_outbox(sync_client(sentinel_url)) == 2  # diagnose + first page
    build_worker(settings, simple=True).work(burst=True, with_scheduler=False)
    [page] = pages.requests("/primary")
    assert page.json["incident_id"] == incident_id


def test_sentinel_url_parsing() -> None:
    s = parse_sentinel_url("redis+sentinel://:pw@10.0.0.1:26379,[::1]:26380/mymaster/2")
    assert s.sentinels == [("10.0.0.1", 26379), ("::1", 26380)]
    assert (s.service, s.db, s.password) == ("mymaster", 2, "pw")
    with pytest.raises(ValueError, match="service_name"):
        parse_sentinel_url("redis+sentinel://h:1")
    with pytest.raises(ValueError, match="host:port"):
        parse_sentinel_url("redis+sentinel://h/svc")
