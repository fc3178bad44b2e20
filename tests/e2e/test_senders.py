"""Every sender, end to end: its documented firing fixture POSTed to `triaged run`
(a subprocess on the embedded Redis, real forking workers), with the sender's own
authentication where it has one configured here, reaches a real page receiver as a
page for the incident the POST answered."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from receiver.errors import PayloadError
from receiver.ingest import normalize
from receiver.model import AlertStatus
from receiver.sources import SOURCES
from tests.support.daemon import TriagedProcess
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parents[1] / "fixtures" / "payloads"
GRAFANA_SECRET = "grafana-e2e-secret"
SNS_PASSWORD = "sns-e2e-password"
AZURE_TOKEN = "azure-e2e-token"
CONTENT_TYPES = {"cloudwatch": "text/plain; charset=UTF-8"}


def firing_fixture(name: str) -> bytes:
    """The first fixture of ``name`` that gives a firing alert (raw delivery for SNS)."""
    for path in sorted((FIXTURES / name).glob("*.json")):
        body = path.read_bytes()
        try:
            alerts = normalize(SOURCES[name], body)
        except PayloadError:
            continue
        if any(a.status is AlertStatus.FIRING for a in alerts):
            if name != "cloudwatch" or b'"Type"' not in body:
                return body
    raise AssertionError(f"no firing fixture under {FIXTURES / name}")


def write_rules(directory: Path, pages: PageReceiver) -> Path:
    directory.mkdir()
    (directory / "rules.yaml").write_text(
        "default_severity: SEV-2\n"
        "contacts:\n"
        f"  oncall: {{role: On call, channels: [{{webhook: '{pages.url('/oncall')}'}}]}}\n"
        "escalation:\n  SEV-2: [{notify: [oncall]}]\n"
        "sources:\n"
        "  grafana:\n    auth:\n      hmac:\n        secrets: [{env: E2E_GRAFANA_SECRET}]\n"
        "        timestamp_header: X-Grafana-Alerting-Timestamp\n"
        "  cloudwatch:\n    auth: {basic: {username: sns, passwords: [{env: E2E_SNS_PASSWORD}]}}\n"
        "  azure-monitor:\n    auth: {query_token: {tokens: [{env: E2E_AZURE_TOKEN}]}}\n"
    )
    return directory


def credentials(name: str, body: bytes) -> tuple[str, dict[str, str]]:
    """The query and headers the sender would send (its own authentication)."""
    if name == "grafana":
        stamp = str(int(time.time()))
        mac = hmac.new(GRAFANA_SECRET.encode(), f"{stamp}:".encode() + body, hashlib.sha256)
        return "", {
            "X-Grafana-Alerting-Signature": mac.hexdigest(),
            "X-Grafana-Alerting-Timestamp": stamp,
        }
    if name == "cloudwatch":
        basic = base64.b64encode(f"sns:{SNS_PASSWORD}".encode()).decode()
        return "", {"Authorization": f"Basic {basic}"}
    if name == "azure-monitor":
        return f"?token={AZURE_TOKEN}", {}
    return "", {}


def post(daemon: TriagedProcess, name: str, body: bytes) -> tuple[int, Any]:
    query, headers = credentials(name, body)
    request = urllib.request.Request(
        daemon.url(f"/api/v1/alerts/{name}{query}"),
        data=body,
        headers={"Content-Type": CONTENT_TYPES.get(name, "application/json"), **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@pytest.fixture(scope="module")
def pages() -> Iterator[PageReceiver]:
    with PageReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, pages: PageReceiver
) -> Iterator[TriagedProcess]:
    base = tmp_path_factory.mktemp("senders")
    env = {
        "E2E_GRAFANA_SECRET": GRAFANA_SECRET,
        "E2E_SNS_PASSWORD": SNS_PASSWORD,
        "E2E_AZURE_TOKEN": AZURE_TOKEN,
    }
    with TriagedProcess(write_rules(base / "rules", pages), base / "data", env=env) as d:
        yield d


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_sender_fixture_reaches_a_page(
    daemon: TriagedProcess, pages: PageReceiver, name: str
) -> None:
    body = firing_fixture(name)
    status, answer = post(daemon, name, body)
    assert status == 202, answer
    ids = {i["id"] for i in answer["incidents"]}
    assert ids, answer

    def paged() -> list[Any]:
        return [r for r in pages.requests("/oncall") if r.json["incident_id"] in ids]

    try:
        [page, *_] = wait_until(paged, timeout=20, message=f"a page for the {name} alert")
    except AssertionError as exc:
        exc.add_note(daemon.log_tail())
        raise
    assert page.json["severity"] == "SEV-2"


@pytest.mark.parametrize("name", ["grafana", "cloudwatch", "azure-monitor"])
def test_sender_without_its_credentials_is_refused(daemon: TriagedProcess, name: str) -> None:
    if name not in SOURCES:
        pytest.fail(f"no {name} adapter registered")
    request = urllib.request.Request(
        daemon.url(f"/api/v1/alerts/{name}"),
        data=firing_fixture(name),
        headers={"Content-Type": CONTENT_TYPES.get(name, "application/json")},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 401
    assert json.loads(info.value.read()) == {"error": "authentication failed"}
