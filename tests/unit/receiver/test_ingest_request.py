"""The ingest script's arguments: each decision once, stored blobs as ARGV entries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from receiver.incidents.codec import Classified, ingest_request
from receiver.model import Alert
from receiver.sources import SOURCES
from rules import load_ruleset
from tests.support.payloads import alertmanager_payload

RULES = """
severities:
  SEV-1: {response_time: 15m, page: immediately}
  SEV-2: {response_time: 1h, page: immediately}
  SEV-3: {response_time: 4h, page: immediately}
  SEV-4: {response_time: next_sprint, page: never}
default_severity: SEV-3
contacts:
  oncall: {role: On call, channels: [{log: {}}]}
escalation:
  SEV-1: [{notify: [oncall]}]
  SEV-3: [{notify: [oncall]}]
rules:
  - name: down
    matchers: ['alertname = "Down"']
    severity: SEV-1
"""


def _alerts(names: list[str]) -> list[Alert]:
    payload = alertmanager_payload(
        [
            {"labels": {"alertname": n, "instance": f"i{i}"}, "startsAt": "2026-11-26T10:00:00Z"}
            for i, n in enumerate(names)
        ],
        group_key="{}:{}",
    )
    source = SOURCES["alertmanager"]
    return list(source.to_alerts(source.payload.model_validate(payload)))


def test_each_decision_is_sent_once_and_blobs_are_arguments_of_their_own(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    ruleset = load_ruleset(tmp_path)
    alerts = _alerts(["Down"] * 8 + ["Other"] * 2)
    items = [Classified(a, ruleset.classify(a.labels)) for a in alerts]
    args = ingest_request(items, "alertmanager", datetime(2026, 11, 26, 10, tzinfo=UTC))
    request = orjson.loads(args[0])
    # two distinct decisions (SEV-1 rule, SEV-3 default), ten alerts: 1 + 2 + 10 arguments
    assert len(request["decisions"]) == 2
    assert len(args) == 1 + 2 + 10
    [group] = request["groups"]
    for alert, item in zip(group["alerts"], items, strict=True):
        decided = request["decisions"][alert["d"] - 1]
        assert decided["severity"] == item.decision.severity.value
        assert args[decided["decision"] - 1] == item.decision.as_json
        assert orjson.loads(args[alert["json"] - 1])["fingerprint"] == alert["fp"]
    # the group opens with its most severe firing alert's decision
    assert request["decisions"][group["open"]["d"] - 1]["severity"] == "SEV-1"
