# ruff: noqa: F811  (the pki and server fixtures are imported, then requested by name)
"""CloudWatch alarms through SNS, through the real app and Redis: signed envelopes
from a configured topic are stored; a subscription is confirmed only for a
configured topic; forged, foreign-topic and unsigned raw posts store nothing. The
signing certificate and the SubscribeURL are served by a real HTTPS server on
127.0.0.1 (the SNS host allowlist is pointed at it for the test)."""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from receiver.api.app import create_app
from receiver.api.keys import SNS_GATE
from receiver.api.sns_gate import SnsGate
from receiver.settings import Settings
from rules import load_ruleset
from tests.integration.conftest import write_rules
from tests.support.page_receiver import PageReceiver
from tests.unit.receiver.test_sns import (  # noqa: F401 (fixtures)
    NOW,
    TOPIC,
    Pki,
    Server,
    confirmation,
    fixture,
    local_policy,
    pki,
    server,
    sign,
    subscribe_url,
)

TEXT = {"Content-Type": "text/plain; charset=UTF-8"}


def rules(directory: Path, pages: PageReceiver, auth: bool) -> Path:
    write_rules(directory, pages)
    basic = "    auth: {basic: {username: sns, passwords: [{env: TEST_SNS_PASSWORD}]}}\n"
    (directory / "sources.yaml").write_text(
        f"sources:\n  cloudwatch:\n    sns: {{topic_arns: ['{TOPIC}']}}\n" + (basic if auth else "")
    )
    return directory


async def app_client(
    aiohttp_client: Any, settings: Settings, directory: Path, pki: Pki, server: Server
) -> Any:
    app = create_app(settings, load_ruleset(directory), os.environ)
    trust = ssl.create_default_context(cadata=pki.tls_cert_pem.decode())
    # SNS's hosts are 127.0.0.1 here, and the clock is the test messages' signing time
    app[SNS_GATE] = SnsGate(local_policy(server.port), verify=trust, clock=lambda: NOW)
    return await aiohttp_client(app)


@pytest.fixture
async def client(
    aiohttp_client: Any,
    settings: Settings,
    rules_dir: Path,
    pages: PageReceiver,
    pki: Pki,
    server: Server,
    redis_client: Any,
) -> Any:
    return await app_client(aiohttp_client, settings, rules(rules_dir, pages, False), pki, server)


def signed_alarm(pki: Pki, server: Server, **changes: str) -> dict[str, str]:
    now = NOW
    return sign(
        fixture("notification_alarm") | changes, pki.signing_key, server.url("/signing.pem"), at=now
    )


async def incidents(client: Any) -> list[dict[str, Any]]:
    return list((await (await client.get("/api/v1/incidents")).json())["incidents"])


async def test_signed_alarm_from_a_configured_topic_is_stored(
    client: Any,
    pki: Pki,
    server: Server,
) -> None:
    envelope = signed_alarm(pki, server)
    resp = await client.post("/api/v1/alerts/cloudwatch", data=json.dumps(envelope), headers=TEXT)
    assert resp.status == 202, await resp.text()
    [incident] = await incidents(client)
    assert incident["labels"]["alertname"]
    assert server.hits["/signing.pem"] == 1


@pytest.mark.parametrize("case", ["tampered", "foreign-topic", "unsigned-raw"])
async def test_forged_foreign_or_unsigned_posts_store_nothing(
    client: Any,
    pki: Pki,
    server: Server,
    case: str,
) -> None:
    if case == "tampered":
        envelope = signed_alarm(pki, server)
        envelope["Message"] = envelope["Message"].replace("ALARM", "OK")
        data = json.dumps(envelope)
    elif case == "foreign-topic":
        other = "arn:aws:sns:eu-west-1:123456789012:someone-else"
        data = json.dumps(signed_alarm(pki, server, TopicArn=other))
    else:
        data = fixture("notification_alarm")["Message"]  # raw delivery: no signature
    resp = await client.post("/api/v1/alerts/cloudwatch", data=data, headers=TEXT)
    assert resp.status == 401, await resp.text()
    assert await resp.json() == {"error": "authentication failed"}
    assert await incidents(client) == []


async def test_subscription_is_confirmed_only_for_the_configured_topic(
    client: Any,
    pki: Pki,
    server: Server,
) -> None:
    now = NOW
    ok = confirmation(pki, server, subscribe_url(server), at=now)
    resp = await client.post("/api/v1/alerts/cloudwatch", data=json.dumps(ok), headers=TEXT)
    assert resp.status == 200, await resp.text()
    assert [q["TopicArn"] for q in server.queries] == [TOPIC]
    other = "arn:aws:sns:eu-west-1:123456789012:someone-else"
    data = fixture("subscription_confirmation") | {
        "SubscribeURL": subscribe_url(server, topic=other),
        "TopicArn": other,
    }
    foreign = sign(data, pki.signing_key, server.url("/signing.pem"), at=now)
    resp = await client.post("/api/v1/alerts/cloudwatch", data=json.dumps(foreign), headers=TEXT)
    assert resp.status == 401
    assert len(server.queries) == 1  # the foreign topic's URL was never visited
    assert await incidents(client) == []


async def test_raw_delivery_is_accepted_with_basic_auth(
    aiohttp_client: Any,
    settings: Settings,
    rules_dir: Path,
    pages: PageReceiver,
    pki: Pki,
    server: Server,
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_SNS_PASSWORD", "sns-secret")
    client = await app_client(aiohttp_client, settings, rules(rules_dir, pages, True), pki, server)
    raw = fixture("notification_alarm")["Message"]
    resp = await client.post(
        "/api/v1/alerts/cloudwatch",
        data=raw,
        headers={**TEXT, "Authorization": aiohttp.encode_basic_auth("sns", "sns-secret")},
    )
    assert resp.status == 202, await resp.text()
    assert len(await incidents(client)) == 1
