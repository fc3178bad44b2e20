"""Rule tests (receiver.rulestest): test files loaded strictly, cases judged against
a rules directory at a fixed instant, payloads through the sender's adapter, and
failures reported as `field: expected X, got Y` with a diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from receiver.rulestest import (
    DEFAULT_AT,
    Case,
    CaseResult,
    load_cases,
    report,
    report_json,
    run_cases,
)
from rules import RuleSet, RuleSetErrors, load_ruleset

ROOT = Path(__file__).parents[3]
PAYLOADS = ROOT / "tests" / "fixtures" / "payloads"
PRODUCT = ROOT / "rules" / "examples" / "product"

RULES = """
contacts:
  alice: {role: Primary, channels: [{log: {}}]}
  bob: {role: Primary, channels: [{log: {}}]}
  carol: {role: Lead, channels: [{log: {}}]}
rotations:
  primary:
    members: [alice, bob]
    length: weekly
    handoff: "09:00"
    timezone: Europe/Berlin
    start: 2026-01-05
policies:
  checkout-team:
    SEV-1:
      - rotations: [primary]
      - {after: 5m, notify: [carol]}
escalation:
  SEV-1: [{notify: [carol]}]
  SEV-2: [{notify: [carol]}]
silences:
  - name: nightly-deploys
    matchers: ['service="checkout"']
    comment: deploys restart checkout
    author: ops
    every: {weekdays: [mon, tue, wed, thu, fri], start: "02:00", end: "04:00",
            timezone: Europe/Berlin}
rules:
  - name: checkout-down
    matchers: ['service = "checkout"', 'alertname = "CheckoutDown"']
    severity: SEV-1
    policy: checkout-team
  - {name: memory, matchers: ['alertname = "High memory usage"'], severity: SEV-2}
"""

# 2026-01-07 is a Wednesday in alice's first week (bob's starts 2026-01-12 09:00 Berlin)
CHECKOUT_DOWN = """
cases:
  - name: checkout down
    labels: {alertname: CheckoutDown, service: checkout}
    at: "2026-01-07T12:00:00Z"
    expect:
      rule: checkout-down
      severity: SEV-1
      policy: checkout-team
      paged_now: [alice]
      silenced: false
"""


@pytest.fixture()
def ruleset(tmp_path: Path) -> RuleSet:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULES)
    return load_ruleset(rules)


def write(tmp_path: Path, text: str, name: str = "cases_test.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def judge(ruleset: RuleSet, tmp_path: Path, text: str) -> list[CaseResult]:
    return run_cases(ruleset, load_cases(write(tmp_path, text)))


def one_case(labels: str, expect: str, at: str = "") -> str:
    when = f"\n    at: {at}" if at else ""
    return f"cases:\n  - name: c\n    labels: {labels}{when}\n    expect: {expect}\n"


# --- labels cases ---------------------------------------------------------------


def test_a_case_meeting_every_field_passes(ruleset: RuleSet, tmp_path: Path) -> None:
    [result] = judge(ruleset, tmp_path, CHECKOUT_DOWN)
    assert result.passed, result.failures
    assert (result.failures, result.diff) == ((), ())
    assert result.line == 3 and result.file.endswith("cases_test.yaml")


@pytest.mark.parametrize(
    ("expect", "failure"),
    [
        ("{rule: memory}", "rule: expected memory, got checkout-down"),
        ("{rule: null}", "rule: expected null, got checkout-down"),
        ("{rule: chekout-down}", "rule: expected chekout-down, got checkout-down"),
        ("{severity: SEV-2}", "severity: expected SEV-2, got SEV-1"),
        ("{policy: null}", "policy: expected null, got checkout-team"),
        ("{paged_now: [carol]}", "paged_now: expected [carol], got [alice]"),
        ("{paged_now: []}", "paged_now: expected [], got [alice]"),
        ("{silenced: true}", "silenced: expected true, got false"),
    ],
)
def test_each_field_that_differs_fails_with_expected_and_got(
    ruleset: RuleSet, tmp_path: Path, expect: str, failure: str
) -> None:
    labels = "{alertname: CheckoutDown, service: checkout}"
    [result] = judge(ruleset, tmp_path, one_case(labels, expect))
    assert not result.passed
    assert [f.split(" (")[0] for f in result.failures] == [failure]


def test_failures_name_what_does_not_exist(ruleset: RuleSet, tmp_path: Path) -> None:
    text = one_case(
        "{alertname: CheckoutDown, service: checkout}",
        "{rule: chekout-down, policy: checkout, paged_now: [alise]}",
    )
    [result] = judge(ruleset, tmp_path, text)
    assert result.failures == (
        "rule: expected chekout-down, got checkout-down (no rule is named chekout-down)",
        "policy: expected checkout, got checkout-team (no policy is named checkout)",
        "paged_now: expected [alise], got [alice] (no contact is named alise)",
    )


def test_only_the_fields_given_are_checked(ruleset: RuleSet, tmp_path: Path) -> None:
    # wrong policy and paging, unchecked: the case is about the severity only
    text = one_case("{alertname: CheckoutDown, service: checkout}", "{severity: SEV-1}")
    assert judge(ruleset, tmp_path, text)[0].passed


def test_no_rule_matched_and_nobody_paged(ruleset: RuleSet, tmp_path: Path) -> None:
    text = one_case(
        "{alertname: Watchdog}",
        "{rule: null, severity: SEV-3, policy: null, paged_now: [], silenced: false}",
    )
    assert judge(ruleset, tmp_path, text)[0].passed


def test_paged_now_is_whoever_is_on_call_at_the_case_instant(
    ruleset: RuleSet, tmp_path: Path
) -> None:
    labels = "{alertname: CheckoutDown, service: checkout}"
    week_two = one_case(labels, "{paged_now: [bob]}", at='"2026-01-12T09:00:00+01:00"')
    assert judge(ruleset, tmp_path, week_two)[0].passed
    before_start = one_case(labels, "{paged_now: [alice]}", at='"2026-01-05T07:59:00Z"')
    [result] = judge(ruleset, tmp_path, before_start)
    assert result.failures == ("paged_now: expected [alice], got [] (nobody on call in primary)",)


def test_paged_now_ignores_order(ruleset: RuleSet, tmp_path: Path) -> None:
    (Path(ruleset.source_files[0])).write_text(
        RULES.replace("SEV-2: [{notify: [carol]}]", "SEV-2: [{notify: [carol, bob]}]")
    )
    rules = load_ruleset(Path(ruleset.source_files[0]).parent)
    text = one_case("{alertname: High memory usage}", "{paged_now: [bob, carol]}")
    assert judge(rules, tmp_path, text)[0].passed
    # beside a field that fails, it is no change in the diff either
    text = one_case("{alertname: High memory usage}", "{severity: SEV-1, paged_now: [bob, carol]}")
    [result] = judge(rules, tmp_path, text)
    assert [line for line in result.diff if line[:1] in "+-"][2:] == [
        "-severity: SEV-1",
        "+severity: SEV-2",
    ]


def test_silenced_inside_the_window_only(ruleset: RuleSet, tmp_path: Path) -> None:
    labels = "{alertname: CheckoutDown, service: checkout}"
    # 02:00-04:00 Berlin on weekdays: 2026-01-07 (Wednesday) 02:30 CET is 01:30 UTC
    inside = one_case(labels, "{silenced: true}", at='"2026-01-07T01:30:00Z"')
    assert judge(ruleset, tmp_path, inside)[0].passed
    outside = one_case(labels, "{silenced: true}", at='"2026-01-07T03:00:00Z"')
    assert not judge(ruleset, tmp_path, outside)[0].passed
    saturday = one_case(labels, "{silenced: false}", at='"2026-01-10T01:30:00Z"')
    assert judge(ruleset, tmp_path, saturday)[0].passed
    other_service = one_case("{service: payments}", "{silenced: false}", at="2026-01-07T01:30:00Z")
    assert judge(ruleset, tmp_path, other_service)[0].passed
    wrong = one_case(labels, "{silenced: false}", at='"2026-01-07T01:30:00Z"')
    assert judge(ruleset, tmp_path, wrong)[0].failures == (
        "silenced: expected false, got true (by nightly-deploys)",
    )


def test_without_at_a_case_is_judged_at_the_fixed_default(tmp_path: Path) -> None:
    path = write(tmp_path, one_case("{a: b}", "{rule: null}"))
    assert load_cases(path)[0].at == DEFAULT_AT
    assert DEFAULT_AT.isoformat() == "2026-01-07T12:00:00+00:00"
    # an unquoted YAML timestamp and an offset are read as instants, kept in UTC
    path = write(tmp_path, one_case("{a: b}", "{rule: null}", at="2026-01-07T13:00:00+01:00"))
    assert load_cases(path)[0].at == DEFAULT_AT


# --- payload cases --------------------------------------------------------------


def payload_case(payload: Path | str, expect: str, source: str = "grafana") -> str:
    return (
        f"cases:\n  - name: p\n    payload: {payload}\n    source: {source}\n    expect: {expect}\n"
    )


def test_a_payload_goes_through_the_senders_adapter(ruleset: RuleSet, tmp_path: Path) -> None:
    fixture = PAYLOADS / "grafana" / "firing.json"
    text = payload_case(fixture, "{rule: memory, severity: SEV-2, paged_now: [carol]}")
    [result] = judge(ruleset, tmp_path, text)
    assert result.passed, result.failures


def test_a_payload_path_is_relative_to_the_test_file(ruleset: RuleSet, tmp_path: Path) -> None:
    (tmp_path / "payloads").mkdir()
    body = (PAYLOADS / "grafana" / "error.json").read_bytes()
    (tmp_path / "payloads" / "error.json").write_bytes(body)
    [case] = load_cases(write(tmp_path, payload_case("payloads/error.json", "{rule: null}")))
    assert case.payload == tmp_path / "payloads" / "error.json" and case.body == body
    assert run_cases(ruleset, [case])[0].passed


def test_every_alert_of_a_payload_must_meet_expect(ruleset: RuleSet, tmp_path: Path) -> None:
    mixed = PAYLOADS / "grafana" / "mixed.json"  # two alerts, zones us-1 and eu-1
    assert judge(ruleset, tmp_path, payload_case(mixed, "{rule: memory}"))[0].passed
    [result] = judge(ruleset, tmp_path, payload_case(mixed, "{severity: SEV-1}"))
    assert result.failures == (
        "alert 1 of 2: severity: expected SEV-1, got SEV-2",
        "alert 2 of 2: severity: expected SEV-1, got SEV-2",
    )
    # the diff says which alert, by its labels as the adapter made them
    headers = [line for line in result.diff if line.startswith(" # alert")]
    assert len(headers) == 2 and "zone: us-1" in headers[0] and "zone: eu-1" in headers[1]
    assert "severity: critical" in headers[0]  # grafana's "Critical", lowercased by the adapter


def test_a_refused_payload_fails_with_the_adapters_message(
    ruleset: RuleSet, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"alerts": []}))
    [result] = judge(ruleset, tmp_path, payload_case(bad, "{rule: null}"))
    assert not result.passed
    assert result.failures == (
        f"{bad}: refused by the grafana adapter: invalid grafana payload: status: Field required",
    )
    assert result.diff == ()
    # the same body is a sound payload for no other sender either: malformed JSON
    bad.write_text("{")
    [result] = judge(ruleset, tmp_path, payload_case(bad, "{rule: null}"))
    assert "refused by the grafana adapter: malformed JSON" in result.failures[0]


def test_a_payload_the_adapter_makes_no_alert_of_fails(ruleset: RuleSet, tmp_path: Path) -> None:
    probe = PAYLOADS / "gcp-monitoring" / "test.json"  # a "test notification"
    [result] = judge(ruleset, tmp_path, payload_case(probe, "{rule: null}", "gcp-monitoring"))
    assert result.failures == (f"{probe}: the gcp-monitoring adapter made no alert of it",)


# --- the diff and the reports ---------------------------------------------------


def test_the_diff_shows_expected_against_actual(ruleset: RuleSet, tmp_path: Path) -> None:
    text = one_case(
        "{alertname: CheckoutDown, service: checkout}",
        "{rule: checkout-down, severity: SEV-2, paged_now: [carol], silenced: false}",
    )
    [result] = judge(ruleset, tmp_path, text)
    assert result.diff == (
        "--- expected",
        "+++ actual",
        "@@ -1,4 +1,4 @@",
        " rule: checkout-down",
        "-severity: SEV-2",
        "-paged_now: [carol]",
        "+severity: SEV-1",
        "+paged_now: [alice]",
        " silenced: false",
    )


def test_values_are_shown_as_yaml(ruleset: RuleSet, tmp_path: Path) -> None:
    # a rule literally named "null" would be ambiguous unquoted
    [result] = judge(ruleset, tmp_path, one_case("{a: b}", "{rule: 'null'}"))
    assert result.failures == ("rule: expected 'null', got null (no rule is named null)",)


def test_report_text(ruleset: RuleSet, tmp_path: Path) -> None:
    text = CHECKOUT_DOWN + (
        "  - name: memory is SEV-1\n"
        "    labels: {alertname: High memory usage}\n"
        "    expect: {severity: SEV-1}\n"
    )
    results = judge(ruleset, tmp_path, text)
    path = tmp_path / "cases_test.yaml"
    assert report(results).splitlines() == [
        "PASS checkout down",
        f"FAIL memory is SEV-1 ({path}:12)",
        "    severity: expected SEV-1, got SEV-2",
        "    --- expected",
        "    +++ actual",
        "    @@ -1 +1 @@",
        "    -severity: SEV-1",
        "    +severity: SEV-2",
        "1 passed, 1 failed",
    ]
    data = report_json(results)
    assert (data["passed"], data["failed"]) == (1, 1)
    assert data["cases"][0] == {
        "name": "checkout down",
        "file": str(path),
        "line": 3,
        "passed": True,
        "failures": [],
        "diff": [],
    }
    assert data["cases"][1]["failures"] == ["severity: expected SEV-1, got SEV-2"]
    json.dumps(data)  # JSON-ready as it is
    assert report([]) == "0 passed, 0 failed"


# --- file errors ----------------------------------------------------------------


def case_with(body: str) -> str:
    return "cases:\n  - name: c\n" + body


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            case_with("    labels: {a: b}\n    expected: {rule: null}\n"),
            ":4:5: cases[0].expected: unknown key (did you mean 'expect'?)",
        ),
        (
            case_with("    labels: {a: b}\n    expect: {rules: x}\n"),
            ":4:14: cases[0].expect.rules: unknown key (did you mean 'rule'?): expected rule,",
        ),
        ("case: []\n", ":1:1: case: unknown key (did you mean 'cases'?)"),
        (
            case_with(
                "    labels: {a: b}\n    at: '2026-11-27T03:00:00'\n    expect: {rule: null}\n"
            ),
            ":4:9: cases[0].at: 2026-11-27T03:00:00 has no time zone: add Z (UTC) or an offset",
        ),
        (
            case_with("    labels: {a: b}\n    at: tomorrow\n    expect: {rule: null}\n"),
            ":4:9: cases[0].at: invalid time 'tomorrow': expected a date and time with a zone",
        ),
        (
            case_with("    at: 2026-11-27\n    labels: {a: b}\n    expect: {rule: null}\n"),
            ":3:9: cases[0].at: invalid time 2026-11-27",
        ),
        (
            case_with("    expect: {rule: null}\n"),
            ":2:5: cases[0]: no input: give labels, or payload with its source",
        ),
        (
            case_with(
                "    labels: {a: b}\n    payload: x.json\n    source: grafana\n"
                "    expect: {rule: null}\n"
            ),
            ":2:5: cases[0]: both labels and payload: a case gives one of the two",
        ),
        (
            case_with("    labels: {a: b}\n    source: grafana\n    expect: {rule: null}\n"),
            ":4:13: cases[0].source: source goes with payload, not labels",
        ),
        (
            case_with("    labels: {a: b}\n"),
            ":2:5: cases[0].expect: missing required key",
        ),
        (
            case_with("    labels: {a: b}\n    expect: {}\n"),
            ":4:13: cases[0].expect: nothing to check: give any of rule, severity, policy,",
        ),
        (
            case_with("    labels: {code: 500}\n    expect: {rule: null}\n"),
            ":3:13: cases[0].labels: label code: values are strings, got 500: quote it",
        ),
        (
            case_with("    labels: {a: b}\n    expect: {severity: SEV-5}\n"),
            ":4:24: cases[0].expect.severity: invalid value 'SEV-5': expected 'SEV-1',",
        ),
        (
            case_with("    labels: {a: b}\n    expect: {severity: null}\n"),
            "cases[0].expect.severity: null is not a value here",
        ),
        (
            case_with("    labels: {a: b}\n    expect: {paged_now: alice}\n"),
            "cases[0].expect.paged_now: input should be a valid list, got 'alice'",
        ),
        ("cases: []\n", ":1:8: cases: list should have at least 1 item"),
        ("- a\n", ":1:1: expected a mapping with the key cases"),
        ("cases: [\n", "invalid YAML"),
        (
            CHECKOUT_DOWN + CHECKOUT_DOWN.removeprefix("\ncases:\n"),
            ":12:11: cases[1].name: duplicate case name 'checkout down' (first at line 3)",
        ),
        (
            "cases:\n  - {name: c, payload: nowhere.json, source: grafana, expect: {rule: x}}\n",
            ":2:24: cases[0].payload: cannot read ",
        ),
        (
            "cases:\n  - {name: c, payload: p.json, expect: {rule: x}}\n",
            ":2:15: cases[0].payload: a payload needs its source: name the sender",
        ),
        (
            "cases:\n  - {name: c, payload: p.json, source: grafna, expect: {rule: x}}\n",
            ":2:40: cases[0].source: unknown source 'grafna' (did you mean 'grafana'?): known are",
        ),
        (
            "cases:\n  - {name: ' ', labels: {}, expect: {rule: x}}\n",
            ":2:12: cases[0].name: empty name: say what the case checks",
        ),
    ],
)
def test_file_errors_say_where_and_what(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "p.json").write_text("{}")
    path = write(tmp_path, text)
    with pytest.raises(RuleSetErrors) as caught:
        load_cases(path)
    assert message in str(caught.value), str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_every_error_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = "cases:\n  - {name: a, expect: {rule: x}}\n  - {name: b, lables: {}, expect: {}}\n"
    with pytest.raises(RuleSetErrors) as caught:
        load_cases(write(tmp_path, text))
    assert len(caught.value.errors) == 3, str(caught.value)


def test_a_missing_test_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(RuleSetErrors, match="nope.yaml: cannot read: No such file"):
        load_cases(tmp_path / "nope.yaml")


def test_sources_may_be_widened_for_mapped_senders(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("{}")
    text = "cases:\n  - {name: c, payload: p.json, source: my-tool, expect: {rule: x}}\n"
    [case] = load_cases(write(tmp_path, text), sources={"my-tool"})
    assert isinstance(case, Case) and case.source == "my-tool"


# --- the shipped example --------------------------------------------------------


def test_the_shipped_example_tests_pass_against_the_product_rules() -> None:
    cases = load_cases(PRODUCT / "tests" / "example_test.yaml")
    results = run_cases(load_ruleset(PRODUCT), cases)
    assert len(results) >= 5
    assert all(r.passed for r in results), report(results)
