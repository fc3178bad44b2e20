"""Rotations and team escalation policies in rule files: who a step pages at a given
moment (fixed clocks), what a rule's policy decides, `triaged oncall`, and every
mistake named with file:line:column."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from receiver.cli import main
from rules import RuleSetErrors, load_ruleset

RULES = """
contacts:
  alice: {role: Primary, channels: [{log: {}}]}
  bob: {role: Primary, channels: [{log: {}}]}
  carol: {role: Lead, channels: [{log: {}}]}
  dave: {role: Cover, channels: [{log: {}}]}
rotations:
  primary:
    members: [alice, bob]
    length: weekly
    handoff: "09:00"
    timezone: Europe/Berlin
    start: 2026-01-05
    overrides: [{who: dave, start: "2026-11-27T18:00", end: "2026-11-28T09:00"}]
policies:
  checkout-team:
    SEV-1:
      - rotations: [primary]
      - {after: 5m, notify: [carol]}
escalation:
  SEV-1: [{notify: [carol]}]
rules:
  - {name: checkout, matchers: ['service = "checkout"'], severity: SEV-1, policy: checkout-team}
  - {name: other, matchers: ['service = "other"'], severity: SEV-1}
"""


def berlin(text: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Berlin"))


def test_a_policy_step_pages_whoever_is_on_call_at_that_moment(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    ruleset = load_ruleset(tmp_path)
    decision = ruleset.classify({"service": "checkout"})
    assert decision.escalation_policy == "checkout-team"
    assert "escalation policy checkout-team" in decision.why
    first = decision.steps[0]
    # 2026-01-05 09:00 starts alice's week; weeks alternate alice, bob
    assert [c.name for c in first.who(berlin("2026-01-05T09:00"))[0]] == ["alice"]
    assert [c.name for c in first.who(berlin("2026-01-12T08:59"))[0]] == ["alice"]
    assert [c.name for c in first.who(berlin("2026-01-12T09:00"))[0]] == ["bob"]
    # the override, at its edges
    assert [c.name for c in first.who(berlin("2026-11-27T18:00"))[0]] == ["dave"]
    assert [c.name for c in first.who(berlin("2026-11-28T09:00"))[0]] != ["dave"]
    # before the first handoff: nobody, and which rotation says so
    assert first.who(berlin("2026-01-05T08:59")) == ([], ["primary"])
    # a rule without a policy keeps the severity's escalation
    assert [c.name for c in ruleset.classify({"service": "other"}).steps[0].contacts] == ["carol"]
    # the stored decision keeps the schedule: workers compute who is on call
    from rules import Decision

    back = Decision.model_validate_json(decision.as_json)
    assert back.steps[0].who(berlin("2026-01-12T09:00"))[0][0].name == "bob"


def test_triaged_oncall_prints_now_and_next(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    at = berlin("2026-11-27T12:00").astimezone(UTC).isoformat()
    result = CliRunner().invoke(main, ["oncall", "--rules", str(tmp_path), "--at", at])
    assert result.exit_code == 0, result.output
    # 2026-11-23 (a Monday) starts week 46 since 2026-01-05: even, so alice
    assert result.output.startswith("primary: alice until 2026-11-27T17:00:00+00:00")
    assert "next dave from 2026-11-27T17:00:00+00:00" in result.output


BROKEN = {
    "unknown rotation": (
        "contacts: {a: {role: r, channels: [{log: {}}]}}\n"
        "escalation: {SEV-1: [{rotations: [nope]}]}\n",
        "2:35: escalation.SEV-1[0].rotations[0]:",
        'unknown rotation "nope"',
    ),
    "unknown member": (
        "contacts: {a: {role: r, channels: [{log: {}}]}}\n"
        "rotations: {r: {members: [a, zed], length: daily, handoff: '09:00',"
        " timezone: UTC, start: 2026-01-01}}\n",
        "2:30: rotations.r.members[1]:",
        'unknown contact "zed"',
    ),
    "unknown policy": (
        "rules: [{name: x, matchers: ['a=\"b\"'], severity: SEV-1, policy: team-x}]\n",
        "1:65: rules[0].policy:",
        'unknown policy "team-x"',
    ),
    "duplicate silence": (
        "silences:\n"
        "  - {name: s, matchers: ['a=\"b\"'], comment: c, author: x,"
        " starts_at: 2026-12-01T00:00:00Z, ends_at: 2026-12-02T00:00:00Z}\n"
        "  - {name: s, matchers: ['a=\"b\"'], comment: c, author: x,"
        " starts_at: 2026-12-01T00:00:00Z, ends_at: 2026-12-02T00:00:00Z}\n",
        "3:6: silences[1].name:",
        'duplicate silence "s"',
    ),
    "empty step": (
        "escalation: {SEV-1: [{after: 0s}]}\n",
        "1:22: escalation.SEV-1[0]:",
        "needs notify (contacts) or rotations",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_oncall_mistakes_are_named(tmp_path: Path, case: str) -> None:
    text, where, why = BROKEN[case]
    (tmp_path / "rules.yaml").write_text(text)
    with pytest.raises(RuleSetErrors) as info:
        load_ruleset(tmp_path)
    message = str(info.value)
    assert f"rules.yaml:{where}" in message and why in message, message


def test_steps_that_outlast_the_response_time_are_warned_about(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "severities: {SEV-1: {response_time: 15m, page: immediately}}\n"
        "contacts: {a: {role: r, channels: [{log: {}}]}, b: {role: r, channels: [{log: {}}]}}\n"
        "escalation: {SEV-1: [{notify: [a]}, {after: 10m, notify: [b]},"
        " {after: 5m, notify: [a]}]}\n"
        "policies: {team: {SEV-1: [{notify: [a]}, {after: 5m, notify: [b]}]}}\n"
    )
    warnings = [w for w in load_ruleset(tmp_path).warnings if "response time" in w]
    assert warnings == [
        "escalation for SEV-1: the last step pages 15m in, not before the 15m response time:"
        " the deadline passes first"
    ]
