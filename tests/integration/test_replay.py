"""`triaged replay`: alerts posted through the real app are kept in Redis with their
verdicts; a candidate rule set replayed over them gives the expected diff and
writes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from click.testing import CliRunner

from receiver.api.app import create_app
from receiver.cli import main
from receiver.incidents import keys
from receiver.incidents.history import History, ReceivedLog
from receiver.settings import Settings
from rules import RuleSet
from tests.integration.conftest import STARTS, body
from tests.support.payloads import alertmanager_payload, group_key_for

JSON = {"Content-Type": "application/json"}


def _payload(alertname: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": alertname, **labels},
        "annotations": {"summary": f"{alertname} fired"},
        "startsAt": STARTS,
        "status": status,
    }
    if status == "resolved":
        alert["endsAt"] = "2026-11-26T10:30:00Z"
    return alertmanager_payload([alert], group_key=group_key_for({"alertname": alertname}))


async def _post(client: Any, payload: dict[str, Any]) -> None:
    resp = await client.post("/api/v1/alerts/alertmanager", data=body(payload), headers=JSON)
    assert resp.status == 202, await resp.text()


async def _post_the_week(client: Any) -> None:
    await _post(client, _payload("CheckoutDown", service="checkout"))  # checkout-down SEV-1
    await _post(client, _payload("DiskFilling", severity="warning"))  # warnings SEV-3
    await _post(client, _payload("Disk\nFilling", severity="warning"))  # a hostile name
    await _post(client, _payload("Mystery"))  # no rule: default SEV-3
    await _post(client, _payload("Mystery"))  # re-sent unchanged: not kept again
    await _post(client, _payload("Mystery", status="resolved"))  # kept, not replayed


def _candidate(rules_dir: Path, tmp_path: Path) -> Path:
    """The live rules with the warnings rule demoted to SEV-4 (page: never) and a
    new rule making Mystery a SEV-1."""
    new = tmp_path / "candidate"
    shutil.copytree(rules_dir, new)
    text = (new / "checkout.yaml").read_text()
    old = "  - name: warnings\n    matchers: ['severity = \"warning\"']\n    severity: SEV-3\n"
    assert old in text
    text = text.replace(old, old.replace("SEV-3", "SEV-4"))
    text += "  - name: mystery\n    matchers: ['alertname = \"Mystery\"']\n    severity: SEV-1\n"
    (new / "checkout.yaml").write_text(text)
    return new


def _state(client: redis.Redis) -> str:
    """A digest of every key and value in Redis."""
    digest = hashlib.sha256()
    for key in sorted(client.scan_iter("*")):
        digest.update(key.encode() + b"\0" + (client.dump(key) or b""))
    return digest.hexdigest()


async def test_received_alerts_are_kept_with_their_verdicts(
    client: Any, redis_client: redis.Redis
) -> None:
    await _post_the_week(client)
    kept = list(ReceivedLog(redis_client).since(datetime.now(UTC) - timedelta(hours=1)))
    names = [(r.labels["alertname"], r.status) for r in kept]
    assert names == [
        ("CheckoutDown", "firing"),
        ("DiskFilling", "firing"),
        ("Disk\nFilling", "firing"),
        ("Mystery", "firing"),
        ("Mystery", "resolved"),
    ]
    checkout = kept[0]
    assert checkout.source == "alertmanager" and checkout.incident and checkout.fingerprint
    assert checkout.labels == {"alertname": "CheckoutDown", "service": "checkout"}
    assert (checkout.verdict.rule, checkout.verdict.severity.value) == ("checkout-down", "SEV-1")
    assert checkout.verdict.paged == "yes" and checkout.verdict.version
    assert (kept[3].verdict.rule, kept[3].verdict.severity.value) == (None, "SEV-3")
    # entries are in the time order Redis gave them, not older than the posts
    assert all(r.at >= datetime.now(UTC) - timedelta(minutes=1) for r in kept)


async def test_replay_shows_how_every_decision_would_change_and_writes_nothing(
    client: Any, redis_client: redis.Redis, redis_url: str, rules_dir: Path, tmp_path: Path
) -> None:
    await _post_the_week(client)
    candidate = _candidate(rules_dir, tmp_path)
    before = _state(redis_client)
    env = {"REDIS_URL": redis_url}
    result = CliRunner().invoke(
        main, ["replay", "--rules", str(candidate), "--since", "1h", "--format", "json"], env=env
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["replayed"] == 4 and report["resolved_not_replayed"] == 1
    assert report["changed"] == 3
    assert {(t["field"], t["was"], t["would_be"], t["alerts"]) for t in report["transitions"]} == {
        ("severity", "SEV-3", "SEV-4", 2),
        ("paged", "yes", "no", 2),
        ("rule", None, "mystery", 1),
        ("severity", "SEV-3", "SEV-1", 1),
    }
    mystery = next(a for a in report["alerts"] if a["labels"]["alertname"] == "Mystery")
    assert mystery["changed"] == {
        "rule": {"was": None, "would_be": "mystery"},
        "severity": {"was": "SEV-3", "would_be": "SEV-1"},
    }
    text = CliRunner().invoke(main, ["replay", "--rules", str(candidate)], env=env)
    assert text.exit_code == 0, text.output
    assert "3 of 4 decisions would change:" in text.stdout
    assert "severity  SEV-3  SEV-4     2" in text.stdout
    assert "rule: - -> mystery; severity: SEV-3 -> SEV-1" in text.stdout
    assert "alertname=Disk\\nFilling" in text.stdout  # one line per alert, escaped
    # read only: not one key or value changed, nothing was enqueued
    assert _state(redis_client) == before


async def test_replay_with_the_live_rules_changes_nothing(
    client: Any, redis_client: redis.Redis, redis_url: str, rules_dir: Path
) -> None:
    await _post_the_week(client)
    result = CliRunner().invoke(
        main, ["replay", "--rules", str(rules_dir)], env={"REDIS_URL": redis_url}
    )
    assert result.exit_code == 0, result.output
    assert "replayed 4 firing alerts" in result.stdout
    assert "no decision would change" in result.stdout


async def test_since_leaves_older_alerts_out(
    client: Any, redis_client: redis.Redis, redis_url: str, rules_dir: Path, tmp_path: Path
) -> None:
    await _post_the_week(client)
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    result = CliRunner().invoke(
        main,
        ["replay", "--rules", str(_candidate(rules_dir, tmp_path)), "--since", later],
        env={"REDIS_URL": redis_url},
    )
    assert result.exit_code == 0, result.output
    assert "replayed 0 firing alerts" in result.stdout


def test_replay_refuses_bad_input(rules_dir: Path, tmp_path: Path, redis_url: str) -> None:
    env = {"REDIS_URL": redis_url}
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "r.yaml").write_text("rules: [{name: x, severity: SEV-9, matchers: []}]\n")
    bad_rules = CliRunner().invoke(main, ["replay", "--rules", str(broken)], env=env)
    assert bad_rules.exit_code == 1 and "r.yaml:1:" in bad_rules.output
    (rules_dir / "r.yaml").write_text("rules: []\n")
    bad_since = CliRunner().invoke(
        main, ["replay", "--rules", str(rules_dir), "--since", "last tuesday"], env=env
    )
    assert bad_since.exit_code == 2 and "--since" in bad_since.output
    no_redis = CliRunner().invoke(
        main,
        ["replay", "--rules", str(rules_dir), "--data", str(tmp_path / "nowhere")],
        env={"REDIS_URL": ""},
    )
    assert no_redis.exit_code == 2 and "REDIS_URL is not set" in no_redis.output


async def test_retention_trims_older_entries(redis_client: redis.Redis, client: Any) -> None:
    # an entry from ten days ago, as if kept then
    old_ms = int((datetime.now(UTC) - timedelta(days=10)).timestamp() * 1000)
    redis_client.xadd(keys.received(), {"n": "1", "items": "[]"}, id=f"{old_ms}-0")
    redis_client.set(keys.received() + ":count", 1)
    await _post(client, _payload("CheckoutDown", service="checkout"))
    ids = [i for i, _ in redis_client.xrange(keys.received())]
    assert len(ids) == 1 and int(ids[0].split("-")[0]) > old_ms  # 7 days kept by default
    assert redis_client.get(keys.received() + ":count") == "1"


async def test_retention_zero_keeps_nothing(
    aiohttp_client: Any, settings: Settings, ruleset: RuleSet, redis_client: redis.Redis
) -> None:
    assert History(retention_s=0).request() is None and History(max_entries=0).request() is None
    app = create_app(settings.model_copy(update={"history_retention_s": 0.0}), ruleset)
    client = await aiohttp_client(app)
    await _post(client, _payload("CheckoutDown", service="checkout"))
    assert redis_client.exists("triaged:incidents") == 1
    assert redis_client.exists(keys.received()) == 0


async def test_the_count_cap_holds(
    aiohttp_client: Any, settings: Settings, ruleset: RuleSet, redis_client: redis.Redis
) -> None:
    app = create_app(settings.model_copy(update={"history_max": 150}), ruleset)
    client = await aiohttp_client(app)
    for i in range(400):
        await _post(client, _payload(f"Alert{i}"))
    kept = list(ReceivedLog(redis_client).since(datetime.now(UTC) - timedelta(hours=1)))
    # the oldest go first; never more than the cap
    assert 140 <= len(kept) <= 150
    assert kept[-1].labels["alertname"] == "Alert399"
    assert int(redis_client.get(keys.received() + ":count") or 0) == len(kept)


async def test_unreadable_entries_are_skipped_and_counted(
    client: Any, redis_client: redis.Redis, redis_url: str, rules_dir: Path
) -> None:
    await _post_the_week(client)
    redis_client.xadd(keys.received(), {"n": "1", "items": '[["x", "y"]]'})
    redis_client.xadd(keys.received(), {"garbage": "yes"})
    result = CliRunner().invoke(
        main, ["replay", "--rules", str(rules_dir)], env={"REDIS_URL": redis_url}
    )
    assert result.exit_code == 0, result.output
    assert "replayed 4 firing alerts" in result.stdout
    assert "(1 unreadable entries skipped)" in result.stdout
