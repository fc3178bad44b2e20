"""The engine: first match wins, default severity, and the Decision snapshot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from rules import CompiledRule, Decision, RuleSet, Severity, load_ruleset, parse_matcher
from rules.defaults import DEFAULT_BUSINESS_HOURS, RUNBOOK_SEVERITIES, with_budget
from rules.schema import (
    Contact,
    EscalationStep,
    HttpProbe,
    LogChannel,
    ProbeSpec,
    WebhookChannel,
)

ROOT = Path(__file__).resolve().parents[3]
SPLIT = ROOT / "tests" / "fixtures" / "rules" / "valid" / "split_files"


def _ruleset() -> RuleSet:
    contact = Contact(
        role="On-call",
        name="Ada",
        channels=[LogChannel(log={"level": "info"}), WebhookChannel(webhook="https://x.test/p")],
    )
    return RuleSet(
        version="abc123abc123",
        rules=(
            CompiledRule("db", (parse_matcher('service="db"'),), Severity.SEV_2, ("db-up",)),
            CompiledRule(
                "any-critical",
                (parse_matcher('severity="critical"'),),
                Severity.SEV_1,
                (),
                "b.yaml",
                3,
            ),
        ),
        severities={s: with_budget(s, p) for s, p in RUNBOOK_SEVERITIES.items()},
        business_hours=DEFAULT_BUSINESS_HOURS,
        default_severity=Severity.SEV_4,
        contacts={"oncall": contact},
        escalation={
            Severity.SEV_2: (
                EscalationStep(notify=["oncall"]),
                EscalationStep(after="10m", notify=["oncall"]),
            )
        },
        probes={"db-up": ProbeSpec(http=HttpProbe(url="http://db.test/health"))},
    )


def test_first_match_wins() -> None:
    decision = _ruleset().classify({"service": "db", "severity": "critical"})
    assert (decision.rule, decision.severity) == ("db", Severity.SEV_2)
    assert decision.why == 'rule "db" ( #1) matched: service="db"'
    assert [s.after_seconds for s in decision.steps] == [0.0, 600.0]
    assert decision.probes[0].spec.url == "http://db.test/health"


def test_default_when_nothing_matches() -> None:
    decision = _ruleset().classify({"service": "web"})
    assert (decision.rule, decision.severity) == (None, Severity.SEV_4)
    assert decision.why == "no rule matched; default_severity SEV-4"
    assert decision.steps == [] and decision.probes == []


def test_severity_rank() -> None:
    assert [s.rank for s in Severity] == [1, 2, 3, 4]
    assert min(Severity, key=lambda s: s.rank) is Severity.SEV_1


@pytest.mark.parametrize(
    "labels",
    [{"service": "db"}, {"severity": "critical"}, {}],
)
def test_decision_json_round_trip(labels: dict[str, str]) -> None:
    decision = _ruleset().classify(labels)
    wire = json.loads(json.dumps(decision.model_dump(mode="json")))
    again = Decision.model_validate(wire)
    assert again == decision
    assert Decision.model_validate_json(decision.model_dump_json()) == decision


def test_decision_json_keeps_channel_kinds_and_durations() -> None:
    decision = _ruleset().classify({"service": "db"})
    wire = decision.model_dump(mode="json")
    assert wire["policy"] == {
        "response_time": "1h",
        "page": "immediately",
        "repeat": 0,
        "diagnosis_budget": "10s",
    }
    assert wire["steps"][0]["contacts"][0]["channels"] == [
        {"log": {"level": "info"}},
        {"webhook": "https://x.test/p", "timeout": "10s"},
    ]
    again = Decision.model_validate(wire)
    channels = again.steps[0].contacts[0].channels
    assert [type(c) for c in channels] == [LogChannel, WebhookChannel]
    assert again.probes[0].spec.timeout == timedelta(seconds=2)


def test_loaded_decisions_round_trip() -> None:
    rules = load_ruleset(SPLIT)
    for labels in ({"service": "api", "alertname": "ApiDown"}, {"service": "api"}, {}):
        decision = rules.classify(labels)
        assert Decision.model_validate_json(decision.model_dump_json()) == decision


def test_decision_is_frozen_and_strict() -> None:
    decision = _ruleset().classify({})
    with pytest.raises(ValidationError):
        decision.severity = Severity.SEV_1  # type: ignore[misc]
    wire = decision.model_dump(mode="json") | {"surprise": 1}
    with pytest.raises(ValidationError):
        Decision.model_validate(wire)


def test_decision_deadline() -> None:
    decision = _ruleset().classify({"service": "db"})
    now = datetime(2025, 3, 24, 10, 0, tzinfo=UTC)
    assert decision.deadline(now) == now + timedelta(hours=1)
