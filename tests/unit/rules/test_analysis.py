"""Rule-set analysis: shadowed and never-matching rules, unreachable contacts, and
`rules explain` (first match, "not tried", who is on call at a fixed time)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import CompiledRule, RuleSet, Severity, load_ruleset, parse_matcher
from rules.analysis import Explanation, Finding, FindingKind, Trial, explain, findings
from rules.defaults import DEFAULT_BUSINESS_HOURS, RUNBOOK_SEVERITIES, with_budget

CONTACTS = """
contacts:
  alice: {role: Primary, channels: [{log: {}}]}
  bob: {role: Primary, channels: [{log: {}}]}
  carol: {role: Lead, channels: [{log: {}}]}
escalation:
  SEV-1: [{notify: [carol]}]
"""


def rule(name: str, *matchers: str, severity: str = "SEV-1", **more: Any) -> dict[str, Any]:
    return {"name": name, "matchers": list(matchers), "severity": severity, **more}


def load(tmp_path: Path, *rules: dict[str, Any], extra: str = CONTACTS) -> RuleSet:
    (tmp_path / "checkout.yaml").write_text(yaml.safe_dump({"rules": list(rules)}))
    (tmp_path / "contacts.yaml").write_text(extra)
    return load_ruleset(tmp_path)


def of_kind(ruleset: RuleSet, kind: FindingKind) -> list[Finding]:
    return [f for f in findings(ruleset) if f.kind is kind]


# -- shadowed -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        (['service="a"'], ['service="a"', 'env="prod"']),
        (['severity=~"critical|page"'], ['severity="critical"']),
        (['severity=~"crit(ical)?"'], ['severity=~"critical|crit"']),
        (['severity=~"[a-c]x"'], ['severity=~"ax|cx"']),
        (['env!="prod"'], ['env="staging"']),
        (['env!="prod"'], ['env=~"dev|test"']),
        (['env!="prod"'], ['env!~"prod|staging"']),
        (['env!~"prod|staging"'], ['env=~"dev|test"', 'team="x"']),
        (['env!~"prod|staging"'], ['env!="prod"', 'env!="staging"']),
        (['alertname=~"Disk.*"'], ['alertname=~"Disk.*"', 'severity="warning"']),
        (['alertname=~"(?i)diskfull"'], ['alertname="DiskFull"']),
        (['code=~"[a-z]{4}"'], ['code="abcd"']),  # too many values to list: not needed
        (['service="a"', 'env!=""'], ['env="prod"', 'service="a"']),
        (['team=""'], ['team="", service="a"']),  # an absent label is ""
        (['service="a"', 'x!~"a^b"'], ['service="a"']),  # a regex matching nothing, negated
    ],
)
def test_shadowed_rules_are_reported(tmp_path: Path, earlier: list[str], later: list[str]) -> None:
    ruleset = load(tmp_path, rule("first", *earlier), rule("second", *later))
    assert [str(f) for f in of_kind(ruleset, FindingKind.SHADOWED)] == [
        'rule "second" (checkout.yaml #2) is shadowed by rule "first" (checkout.yaml #1): '
        'every alert it matches, "first" matches first'
    ]
    finding = of_kind(ruleset, FindingKind.SHADOWED)[0]
    assert (finding.file, finding.position) == ("checkout.yaml", 2)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        (['service="a"', 'env="prod"'], ['service="a"']),  # the other way round
        (['severity=~"critical|page"'], ['severity=~"critical|warning"']),
        (['alertname=~"Checkout"'], ['alertname=~"Checkout.*"']),  # anchored
        (['alertname=~"Checkout"'], ['alertname="CheckoutDown"']),  # anchored
        (['env!="prod"'], ['env!="staging"']),
        (['env!="prod"'], ['service="x"']),  # env absent is "", but "prod" is possible
        (['a=~".+"'], ['a!=""']),  # "." does not match "\n"
        (['a=~".*"'], ['b="x"']),  # not even ".*": a value may hold "\n"
        (['severity="critical"'], ['severity=~"(?i)critical"']),  # also "CRITICAL"
        (['env=~"prod|staging"'], ['env!="dev"']),
        (['env!~"prod|staging"'], ['env!="prod"']),
        (['service="a"'], ['service="b"']),
        (['service="a"', 'team="x"'], ['service="a"', 'team=~"x|y"']),
    ],
)
def test_near_misses_are_not_reported(tmp_path: Path, earlier: list[str], later: list[str]) -> None:
    ruleset = load(tmp_path, rule("first", *earlier), rule("second", *later))
    assert of_kind(ruleset, FindingKind.SHADOWED) == []


def test_shadowing_across_files_names_both_files(tmp_path: Path) -> None:
    (tmp_path / "a-platform.yaml").write_text(
        yaml.safe_dump({"rules": [rule("all-critical", 'severity=~"critical|page"')]})
    )
    ruleset = load(tmp_path, rule("ok", 'service="x"'), rule("db", 'severity="page", team="db"'))
    assert [str(f) for f in of_kind(ruleset, FindingKind.SHADOWED)] == [
        'rule "db" (checkout.yaml #2) is shadowed by rule "all-critical" (a-platform.yaml #1): '
        'every alert it matches, "all-critical" matches first'
    ]


def test_the_first_shadowing_rule_is_named_and_each_rule_once(tmp_path: Path) -> None:
    ruleset = load(
        tmp_path,
        rule("broad", 'service="a"'),
        rule("narrow", 'service="a"', 'env="prod"'),
        rule("narrower", 'service="a"', 'env="prod"', 'team="x"'),
    )
    found = of_kind(ruleset, FindingKind.SHADOWED)
    assert [f.position for f in found] == [2, 3]
    assert all('by rule "broad"' in str(f) for f in found)


# -- never matches --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matchers", "reason"),
    [
        (['a="x"', 'a="y"'], 'a="x" and a="y" cannot both hold'),
        (['a="x"', 'a!="x"'], 'a="x" and a!="x" cannot both hold'),
        (['a="x"', 'a!~"x|y"'], 'a="x" and a!~"x|y" cannot both hold'),
        (['a=~"[0-9]+"', 'a="abc"'], 'a="abc" and a=~"[0-9]+" cannot both hold'),
        (['a=~"x|y"', 'a!="x"', 'a!="y"'], 'a=~"x|y" and a!="x" and a!="y" cannot all hold'),
        (['a=~".*"', 'a!~".*"'], 'a=~".*" and a!~".*" cannot both hold'),
        (['a="x", a=""'], 'a="x" and a="" cannot both hold'),
        (['a=~"[a-c]{1,4}"', 'a="abcd"'], 'a="abcd" and a=~"[a-c]{1,4}" cannot both hold'),
        (['a=~"a^b"'], 'a=~"a^b" matches no value'),
        (['a=~"$x"'], 'a=~"$x" matches no value'),
        (['b="1"', 'a=~"(x|y)^z"'], 'a=~"(x|y)^z" matches no value'),
    ],
)
def test_never_matching_rules_are_reported(
    tmp_path: Path, matchers: list[str], reason: str
) -> None:
    ruleset = load(tmp_path, rule("ok", 'service="x"'), rule("broken", *matchers))
    found = findings(ruleset)
    assert [str(f) for f in found] == [f'rule "broken" (checkout.yaml #2) never matches: {reason}']
    assert (found[0].kind, found[0].file, found[0].position) == (
        FindingKind.NEVER_MATCHES,
        "checkout.yaml",
        2,
    )


@pytest.mark.parametrize(
    "matchers",
    [
        ['a="x"', 'a!="y"'],
        ['a="x"', 'a=~"x|y"'],
        ['a=~"[0-9]+"', 'a!="1"'],
        ['a=~"x|y"', 'a!="x"'],
        ['a=~"^x$"'],  # anchors that hold
        ['a=~".+"', 'a!=""'],
        ['a=~"(?i)X"', 'a="x"'],
        ['a!~"x"', 'a!~"y"'],
        ['a=""'],
    ],
)
def test_satisfiable_rules_are_not_reported(tmp_path: Path, matchers: list[str]) -> None:
    assert findings(load(tmp_path, rule("fine", *matchers))) == []


def test_a_never_matching_rule_shadows_nothing_and_is_not_called_shadowed(
    tmp_path: Path,
) -> None:
    ruleset = load(
        tmp_path,
        rule("broad", 'service="a"'),
        rule("broken", 'service="a"', 'env="x"', 'env="y"'),
        rule("impossible", 'service=~"a^b"'),
        rule("after", 'service="b"'),
    )
    kinds = [(f.kind, f.position) for f in findings(ruleset)]
    assert kinds == [(FindingKind.NEVER_MATCHES, 2), (FindingKind.NEVER_MATCHES, 3)]


# -- no false positives, checked by brute force ------------------------------------

POOL = [
    'a="x"', 'a="y"', 'a=""', 'a!="x"', 'a!=""', 'a=~"x|y"', 'a=~"x.*"', 'a=~".+"',
    'a=~".*"', 'a=~"[xy]z?"', 'a!~"x|y"', 'a!~".*"', 'a=~"(?i)x"', 'a=~"x^y"', 'a=~"^x$"',
    'a!~"x^y"', 'b="x"', 'b!="x"', 'b=~"x|y"', 'b!~"y|z"',
]  # fmt: skip
VALUES = ["", "x", "y", "z", "xz", "yz", "X", "x\n", "\n", "xy", "xx"]
LABELS = [{"a": a, "b": b} for a in VALUES for b in VALUES]
matcher_lists = st.lists(st.sampled_from(POOL), min_size=1, max_size=3)


def in_memory(*rules: list[str]) -> RuleSet:
    return RuleSet(
        version="0",
        rules=tuple(
            CompiledRule(f"r{i}", tuple(map(parse_matcher, ms)), Severity.SEV_1, (), "f.yaml", i)
            for i, ms in enumerate(rules, start=1)
        ),
        severities={s: with_budget(s, p) for s, p in RUNBOOK_SEVERITIES.items()},
        business_hours=DEFAULT_BUSINESS_HOURS,
        default_severity=Severity.SEV_1,
        contacts={},
        escalation={},
        probes={},
    )


@settings(max_examples=400, deadline=None)
@given(matcher_lists, matcher_lists)
def test_every_finding_holds_on_every_label_set(first: list[str], second: list[str]) -> None:
    ruleset = in_memory(first, second)
    for finding in findings(ruleset):
        assert finding.position is not None
        rule = ruleset.rules[finding.position - 1]
        if finding.kind is FindingKind.NEVER_MATCHES:
            assert not any(rule.matches(labels) for labels in LABELS), finding
        else:
            assert finding.kind is FindingKind.SHADOWED and finding.position == 2
            assert all(ruleset.rules[0].matches(x) for x in LABELS if rule.matches(x)), finding


# -- unreachable contacts -------------------------------------------------------------

REACH = """
contacts:
  lead: {role: Lead, channels: [{log: {}}]}
  dba: {role: DBA, channels: [{log: {}}]}
  ann: {role: Primary, channels: [{log: {}}]}
  ben: {role: Primary, channels: [{log: {}}]}
  cover: {role: Cover, channels: [{log: {}}]}
  boss: {role: Director, channels: [{log: {}}]}
  scribe: {role: Triage, channels: [{log: {}}]}
  nobody: {role: Spare, channels: [{log: {}}]}
  sev2-only: {role: Spare, channels: [{log: {}}]}
  team-sev3: {role: Spare, channels: [{log: {}}]}
rotations:
  primary:
    members: [ann, ben]
    length: weekly
    handoff: "09:00"
    timezone: Europe/Berlin
    start: 2026-01-05
    overrides: [{who: cover, start: "2026-11-27T18:00", end: "2026-11-28T09:00"}]
policies:
  db-team:
    SEV-1: [{notify: [dba]}]
    SEV-3: [{notify: [team-sev3]}]
escalation:
  SEV-1: [{rotations: [primary]}, {after: 5m, notify: [lead]}]
  SEV-2: [{notify: [sev2-only]}]
stakeholders: {severities: [SEV-1], notify: [boss]}
digest: {notify: [scribe]}
"""


def test_unreachable_contacts(tmp_path: Path) -> None:
    ruleset = load(
        tmp_path,
        rule("down", 'service="checkout"', severity="SEV-1"),
        rule("db", 'service="db"', severity="SEV-1", policy="db-team"),
        extra=REACH,
    )
    assert ruleset.default_severity is Severity.SEV_3
    found = of_kind(ruleset, FindingKind.UNREACHABLE_CONTACT)
    # reached: lead, ann/ben/cover (rotation), dba (policy), boss, scribe;
    # "nobody" is in no step at all: the loader already says so
    assert [str(f) for f in found] == [
        'contact "sev2-only" is paged by no rule: it is only in escalation for SEV-2, '
        "which no rule's severity or policy (nor default_severity SEV-3) leads to",
        'contact "team-sev3" is paged by no rule: it is only in policy "db-team" for SEV-3, '
        "which no rule's severity or policy (nor default_severity SEV-3) leads to",
    ]
    assert all((f.file, f.position) == (None, None) for f in found)
    assert 'contact "nobody" is in no escalation step' in ruleset.warnings


def test_contacts_reached_by_default_severity_and_regrade(tmp_path: Path) -> None:
    extra = REACH + "default_severity: SEV-2\n"  # sev2-only is reached
    probes = "probes:\n  up: {tcp: {host: db.internal, port: 5432}}\n"
    regrade = [{"when": "all_ok", "severity": "SEV-3"}]
    ruleset = load(
        tmp_path,
        rule("db", 'service="db"', severity="SEV-1", policy="db-team", probes=["up"]),
        rule("down", 'service="checkout"', severity="SEV-1"),
        extra=extra + probes,
    )
    assert ruleset.rules[0].regrade == ()  # no regrade yet: team-sev3 unreached
    assert [str(f).split('"')[1] for f in of_kind(ruleset, FindingKind.UNREACHABLE_CONTACT)] == [
        "team-sev3"
    ]
    ruleset = load(
        tmp_path,
        rule(
            "db", 'service="db"', severity="SEV-1", policy="db-team", probes=["up"], regrade=regrade
        ),
        rule("down", 'service="checkout"', severity="SEV-1"),
        extra=extra + probes,
    )
    assert of_kind(ruleset, FindingKind.UNREACHABLE_CONTACT) == []


def test_a_policy_for_another_severity_falls_back_to_the_escalation(tmp_path: Path) -> None:
    # "db" gives SEV-2, which db-team does not cover: escalation for SEV-2 applies
    ruleset = load(
        tmp_path,
        rule("db", 'service="db"', severity="SEV-2", policy="db-team"),
        rule("down", 'service="checkout"', severity="SEV-1"),
        extra=REACH,
    )
    names = [str(f).split('"')[1] for f in of_kind(ruleset, FindingKind.UNREACHABLE_CONTACT)]
    assert names == ["dba", "team-sev3"]


# -- explain --------------------------------------------------------------------------

AT = datetime(2026, 1, 13, 10, 0, tzinfo=UTC)  # a Tuesday: ben's week in "primary"

EXPLAIN = """
contacts:
  ann: {role: Primary, channels: [{log: {}}]}
  ben: {role: Primary, channels: [{log: {}}]}
  lead: {role: Lead, channels: [{log: {}}]}
rotations:
  primary:
    members: [ann, ben]
    length: weekly
    handoff: "09:00"
    timezone: Europe/Berlin
    start: 2026-01-05
  next-year:
    members: [ann]
    length: weekly
    handoff: "09:00"
    timezone: Europe/Berlin
    start: 2027-01-04
escalation:
  SEV-1:
    - {rotations: [primary, next-year], notify: [lead]}
    - {after: 5m, rotations: [next-year]}
"""


@pytest.fixture
def shadowing(tmp_path: Path) -> RuleSet:
    return load(
        tmp_path,
        rule("db", 'service="db"', severity="SEV-3"),
        rule("checkout", 'service="checkout"', severity="SEV-1"),
        rule("checkout-prod", 'service="checkout"', 'env="prod"', severity="SEV-2"),
        extra=EXPLAIN,
    )


def test_explain_a_shadowed_rule_shows_it_not_tried(shadowing: RuleSet) -> None:
    assert [f.kind for f in findings(shadowing)] == [FindingKind.SHADOWED]
    e = explain(shadowing, {"service": "checkout", "env": "prod"}, AT)
    assert [(t.rule, t.status, t.matched, t.failed) for t in e.rules] == [
        ("db", Trial.NOT_MATCHED, False, ('service="db"',)),
        ("checkout", Trial.MATCHED, True, ()),
        ("checkout-prod", Trial.NOT_TRIED, False, ()),
    ]
    assert (e.decision.rule, e.decision.severity) == ("checkout", Severity.SEV_1)
    assert e.decision == shadowing.classify({"service": "checkout", "env": "prod"})


def test_explain_who_is_on_call_at_a_fixed_time(shadowing: RuleSet) -> None:
    e = explain(shadowing, {"service": "checkout"}, AT)
    first, second = e.steps
    assert first.contacts == ("lead",)
    assert [(r.rotation, r.person) for r in first.rotations] == [
        ("primary", "ben"),
        ("next-year", None),
    ]
    assert (first.paged, first.nobody_on_call) == (("lead", "ben"), ("next-year",))
    assert (second.number, second.after_seconds, second.paged) == (2, 300.0, ())
    assert explain(shadowing, {"service": "checkout"}, datetime(2026, 1, 6, tzinfo=UTC)).steps[
        0
    ].paged == ("lead", "ann")
    assert e.deadline == datetime(2026, 1, 13, 10, 15, tzinfo=UTC)
    assert e.first_page_at == AT


def test_explain_text(shadowing: RuleSet) -> None:
    e = explain(shadowing, {"service": "checkout", "env": "prod"}, AT)
    assert e.text().splitlines() == [
        'labels: env="prod", service="checkout"',
        "at: 2026-01-13T10:00:00+00:00",
        "rules (first match wins):",
        '  db (checkout.yaml #1): no match: service="db" (is "checkout")',
        "  checkout (checkout.yaml #2): matched",
        "  checkout-prod (checkout.yaml #3): not tried",
        'decision: SEV-1 (rule "checkout")',
        '  why: rule "checkout" (checkout.yaml #2) matched: service="checkout"',
        "  respond within 15m, by 2026-01-13T10:15:00+00:00; pages immediately",
        "  probes: (none)",
        "  escalation: escalation for SEV-1",
        "paged, on call as of 2026-01-13T10:00:00+00:00:",
        "  step 1 (at once): lead, ben",
        "    rotation primary: ben on call",
        "    rotation next-year: nobody on call",
        "  step 2 (after 5m): nobody",
        "    rotation next-year: nobody on call",
    ]


def test_explain_text_without_a_match_outside_business_hours(shadowing: RuleSet) -> None:
    saturday = datetime(2026, 1, 17, 12, 0, tzinfo=UTC)
    lines = explain(shadowing, {"env": "dev"}, saturday).text().splitlines()
    assert lines[3:6] == [
        '  db (checkout.yaml #1): no match: service="db" (service absent)',
        '  checkout (checkout.yaml #2): no match: service="checkout" (service absent)',
        '  checkout-prod (checkout.yaml #3): no match: service="checkout" (service absent), '
        'env="prod" (is "dev")',
    ]
    assert lines[6:8] == [
        "decision: SEV-3 (no rule matched: default_severity)",
        "  why: no rule matched; default_severity SEV-3",
    ]
    assert lines[-1] == "nobody is paged: SEV-3 has no escalation steps"


def test_explain_as_json(shadowing: RuleSet) -> None:
    e = explain(shadowing, {"service": "checkout", "env": "prod"}, AT)
    data = e.as_json()
    assert json.loads(json.dumps(data)) == data
    assert data["labels"] == {"env": "prod", "service": "checkout"}
    assert data["at"] == "2026-01-13T10:00:00+00:00"
    assert data["rules"][0] == {
        "rule": "db",
        "file": "checkout.yaml",
        "position": 1,
        "status": "not_matched",
        "matched": False,
        "failed": ['service="db"'],
    }
    assert [r["status"] for r in data["rules"]] == ["not_matched", "matched", "not_tried"]
    assert data["decision"] == {
        "rule": "checkout",
        "severity": "SEV-1",
        "why": 'rule "checkout" (checkout.yaml #2) matched: service="checkout"',
        "probes": [],
        "escalation_policy": None,
        "response_time": "15m",
        "page": "immediately",
        "deadline": "2026-01-13T10:15:00+00:00",
        "first_page_at": "2026-01-13T10:00:00+00:00",
    }
    assert data["steps"][0] == {
        "step": 1,
        "after_seconds": 0.0,
        "contacts": ["lead"],
        "rotations": [
            {"rotation": "primary", "on_call": "ben"},
            {"rotation": "next-year", "on_call": None},
        ],
        "paged": ["lead", "ben"],
        "nobody_on_call": ["next-year"],
    }


def test_explain_is_immutable_and_refuses_a_naive_time(shadowing: RuleSet) -> None:
    e = explain(shadowing, {"service": "checkout"}, AT)
    assert isinstance(e, Explanation)
    with pytest.raises(AttributeError):
        e.rules = ()  # type: ignore[misc]
    with pytest.raises(ValueError, match="naive"):
        explain(shadowing, {}, datetime(2026, 1, 13, 10))
