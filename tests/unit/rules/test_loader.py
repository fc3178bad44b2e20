"""Loading rules directories: the product brief's example verbatim, merging, defaults."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from rules import (
    PageMode,
    ResponseWindow,
    RuleSet,
    RuleSetErrors,
    Severity,
    load_ruleset,
)

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = ROOT / "rules" / "examples" / "product"
QUICKSTART = ROOT / "rules" / "examples" / "quickstart"
VALID = ROOT / "tests" / "fixtures" / "rules" / "valid"


@pytest.fixture(scope="module")
def product() -> RuleSet:
    return load_ruleset(PRODUCT)


def test_product_example_is_verbatim_from_the_brief() -> None:
    brief = Path("/work/shared/product.md")
    if not brief.exists():
        pytest.skip("product brief not present")
    text = brief.read_text()
    for name in ("severities.yaml", "contacts.yaml", "checkout.yaml"):
        assert f"```yaml\n{(PRODUCT / name).read_text()}```" in text


def test_product_checkout_down_is_sev1_with_probes_and_two_steps(product: RuleSet) -> None:
    decision = product.classify({"service": "checkout", "alertname": "CheckoutDown"})
    assert decision.rule == "checkout-down"
    assert decision.severity is Severity.SEV_1
    assert [p.name for p in decision.probes] == ["checkout-health", "checkout-alive"]
    status = decision.probes[0].spec.expect_status
    assert status is not None and (status.low, status.high) == (200, 200)
    assert decision.probes[1].spec.timeout == timedelta(seconds=2)
    assert [s.after_seconds for s in decision.steps] == [0.0, 300.0]
    assert [[c.name for c in s.contacts] for s in decision.steps] == [
        ["primary-oncall"],
        ["engineering-lead"],
    ]
    assert decision.policy.response_timedelta == timedelta(minutes=15)
    assert decision.policy.diagnosis_budget == timedelta(seconds=3)
    assert decision.business_hours.timezone == "Europe/London"
    assert decision.rules_version == product.version


def test_product_high_error_rate_also_matches(product: RuleSet) -> None:
    labels = {"service": "checkout", "alertname": "HighErrorRate", "severity": "warning"}
    assert product.classify(labels).rule == "checkout-down"  # first match wins


def test_product_anchored_regex_does_not_match_a_longer_name(product: RuleSet) -> None:
    decision = product.classify({"service": "checkout", "alertname": "CheckoutDownSoon"})
    assert decision.rule is None


def test_product_warning_is_sev3(product: RuleSet) -> None:
    decision = product.classify({"severity": "warning", "alertname": "DiskFilling"})
    assert (decision.rule, decision.severity) == ("warnings", Severity.SEV_3)
    assert decision.policy.response_time is ResponseWindow.BUSINESS_DAY
    assert decision.policy.page is PageMode.BUSINESS_HOURS
    assert decision.steps == []
    assert decision.probes == []


def test_product_no_match_is_default_sev3(product: RuleSet) -> None:
    decision = product.classify({})
    assert decision.rule is None
    assert decision.severity is Severity.SEV_3
    assert decision.why == "no rule matched; default_severity SEV-3"


def test_product_shape(product: RuleSet) -> None:
    assert [Path(f).name for f in product.source_files] == [
        "checkout.yaml",
        "contacts.yaml",
        "severities.yaml",
    ]
    assert [(r.name, r.source, r.position) for r in product.rules] == [
        ("checkout-down", "checkout.yaml", 1),
        ("warnings", "checkout.yaml", 2),
    ]
    assert product.severities[Severity.SEV_4].page is PageMode.NEVER
    assert product.business_hours.end == "17:30"
    assert product.warnings == (
        "SEV-3 pages business_hours but has no escalation steps: nobody is paged",
    )
    assert len(product.version) == 12
    int(product.version, 16)


def test_quickstart_loads_and_pages_through_the_log_first() -> None:
    rules = load_ruleset(QUICKSTART)
    assert rules.warnings == ()
    decision = rules.classify({"severity": "critical", "alertname": "Anything"})
    assert (decision.rule, decision.severity) == ("critical", Severity.SEV_2)
    channels = decision.steps[0].contacts[0].channels
    assert [c.kind for c in channels] == ["log", "webhook"]
    assert rules.classify({"service": "checkout", "alertname": "CheckoutDown"}).rule == (
        "checkout-down"
    )
    assert rules.classify({"severity": "warning"}).severity is Severity.SEV_3


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text)


RULE = "rules:\n  - {{name: {name}, matchers: ['{matcher}'], severity: {severity}}}\n"


def test_files_load_in_lexical_order_and_first_match_wins(tmp_path: Path) -> None:
    _write(tmp_path, "b.yaml", RULE.format(name="from-b", matcher='x="1"', severity="SEV-1"))
    _write(tmp_path, "a.yml", RULE.format(name="from-a", matcher='x=~".+"', severity="SEV-2"))
    _write(tmp_path, "C.yaml", RULE.format(name="from-C", matcher='x="1"', severity="SEV-4"))
    _write(tmp_path, "notes.txt", "not a rule file")
    rules = load_ruleset(str(tmp_path))
    assert [r.name for r in rules.rules] == ["from-C", "from-a", "from-b"]  # "C" < "a"
    assert rules.classify({"x": "1"}).rule == "from-C"
    assert rules.classify({"x": "2"}).rule == "from-a"
    assert rules.classify({"x": "1"}).why == ('rule "from-C" (C.yaml #1) matched: x="1"')


def test_without_severities_the_runbook_defaults_apply(tmp_path: Path) -> None:
    for name in ("contacts.yaml", "checkout.yaml"):
        shutil.copy(PRODUCT / name, tmp_path / name)
    rules = load_ruleset(tmp_path)
    policies = {s: (p.response_time, p.page) for s, p in rules.severities.items()}
    assert policies == {
        Severity.SEV_1: (timedelta(minutes=15), PageMode.IMMEDIATELY),
        Severity.SEV_2: (timedelta(hours=1), PageMode.IMMEDIATELY),
        Severity.SEV_3: (ResponseWindow.BUSINESS_DAY, PageMode.BUSINESS_HOURS),
        Severity.SEV_4: (ResponseWindow.NEXT_SPRINT, PageMode.NEVER),
    }
    budgets = [rules.severities[s].diagnosis_budget for s in Severity]
    assert budgets == [timedelta(seconds=s) for s in (3, 10, 30, 30)]
    hours = rules.business_hours
    assert (hours.timezone, hours.days, hours.start, hours.end) == (
        "UTC",
        ["mon", "tue", "wed", "thu", "fri"],
        "09:00",
        "17:00",
    )
    assert rules.default_severity is Severity.SEV_3
    assert rules.classify({}).severity is Severity.SEV_3


def test_a_partial_severities_section_keeps_the_other_defaults(tmp_path: Path) -> None:
    _write(tmp_path, "s.yaml", "severities:\n  SEV-2: {response_time: 2h, page: never}\n")
    rules = load_ruleset(tmp_path)
    assert rules.severities[Severity.SEV_2].response_time == timedelta(hours=2)
    assert rules.severities[Severity.SEV_1].response_time == timedelta(minutes=15)


def test_split_files_fixture() -> None:
    rules = load_ruleset(VALID / "split_files")
    assert [Path(f).name for f in rules.source_files] == [
        "10-severities.yaml",
        "20-contacts.yaml",
        "30-api.yaml",
        "40-catchall.yml",
    ]
    down = rules.classify({"service": "api", "alertname": "ApiErrors"})
    assert (down.rule, down.severity, down.repeat) == ("api-down", Severity.SEV_1, 2)
    assert down.policy.diagnosis_budget == timedelta(seconds=5)
    assert [p.spec.method for p in down.probes] == ["HEAD", "POST"]
    assert [[c.name for c in s.contacts] for s in down.steps] == [["oncall"], ["oncall", "lead"]]
    assert down.steps[0].contacts[0].display_name == "Ada"
    assert rules.classify({"service": "api"}).rule == "api-anything"
    assert rules.classify({"service": "web"}).severity is Severity.SEV_4
    assert str(rules.business_hours.holidays[0]) == "2025-07-04"


def test_minimal_fixture_accepts_a_brace_list_matcher() -> None:
    rules = load_ruleset(VALID / "minimal")
    assert rules.classify({"severity": "critical", "env": "prod"}).severity is Severity.SEV_2
    assert rules.classify({"severity": "critical", "env": "dev"}).rule is None


def test_files_without_keys_are_allowed() -> None:
    rules = load_ruleset(VALID / "empty_file")
    assert rules.rules == ()


def test_version_depends_on_names_and_bytes_not_on_the_directory(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(PRODUCT, copy)
    assert load_ruleset(copy).version == load_ruleset(PRODUCT).version
    with (copy / "checkout.yaml").open("a") as f:
        f.write("# a comment\n")
    assert load_ruleset(copy).version != load_ruleset(PRODUCT).version


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(RuleSetErrors, match="rules directory does not exist"):
        load_ruleset(tmp_path / "nope")


def test_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no rules here")
    with pytest.raises(RuleSetErrors, match=r"no rule files \(\*\.yaml, \*\.yml\)") as caught:
        load_ruleset(tmp_path)
    assert caught.value.errors[0].path == str(tmp_path)


def test_a_file_instead_of_a_directory() -> None:
    with pytest.raises(RuleSetErrors, match="not a directory"):
        load_ruleset(PRODUCT / "checkout.yaml")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("- a\n- b\n", "1:1: expected a mapping with any of the keys: severities,"),
        ("rules: []\n---\nrules: []\n", "invalid YAML"),
        (
            "escalation:\n  SEV-1:\n    - {after: 1m, notify: [x]}\n",
            "3:15: escalation.SEV-1[0].after: the first step pages at once",
        ),
        (
            "business_hours: {start: '18:00', end: '09:00'}\n",
            "business_hours: start 18:00 is not before end 09:00",
        ),
        ("probes:\n  p: {}\n", "2:6: probes.p: a probe needs exactly one of the keys: http"),
        (
            "contacts:\n  c:\n    role: r\n    channels: [{sms: a@b}]\n",
            "4:16: contacts.c.channels[0]: a channel needs one of the keys: webhook, log, slack",
        ),
        (
            "contacts:\n  c:\n    role: r\n    channels: [{webhook: 'http://x/', timeot: 1s}]\n",
            "4:39: contacts.c.channels[0].timeot: unknown key",
        ),
        ("rules:\n  - {name: 'has space', matchers: ['a=b'], severity: SEV-1}\n", "invalid name"),
        ("rules:\n  - {name: r, matchers: [], severity: SEV-1}\n", "needs at least 1 item"),
        ("rules:\n  - {name: r, matchers: ['{}'], severity: SEV-1}\n", "empty matcher"),
        ("rules:\n  - {name: r, matchers: ['a=b'], severity: 1}\n", "invalid value 1"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, reason: str) -> None:
    _write(tmp_path, "f.yaml", text)
    with pytest.raises(RuleSetErrors) as caught:
        load_ruleset(tmp_path)
    assert reason in str(caught.value)


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_bytes(b"rules: \xff\n")
    with pytest.raises(RuleSetErrors, match="not UTF-8"):
        load_ruleset(tmp_path)


def test_duplicates_of_every_kind_across_files(tmp_path: Path) -> None:
    text = (
        "severities: {SEV-1: {response_time: 1m, page: never}}\n"
        "business_hours: {}\n"
        "default_severity: SEV-2\n"
        "contacts: {c: {role: r, channels: [{log: {}}]}}\n"
        "escalation: {SEV-1: [{notify: [c]}]}\n"
        "probes: {p: {http: {url: 'http://x/'}}}\n"
    )
    _write(tmp_path, "a.yaml", text)
    _write(tmp_path, "b.yaml", text)
    with pytest.raises(RuleSetErrors) as caught:
        load_ruleset(tmp_path)
    reasons = [e.reason for e in caught.value.errors]
    assert [e.path for e in caught.value.errors] == [str(tmp_path / "b.yaml")] * 6
    assert reasons == [
        "duplicate severity policy SEV-1: already defined at a.yaml:1:14",
        "duplicate business_hours: already defined at a.yaml:2:1",
        "duplicate default_severity: already defined at a.yaml:3:1",
        'duplicate contact "c": already defined at a.yaml:4:12',
        "duplicate escalation for SEV-1: already defined at a.yaml:5:14",
        'duplicate probe "p": already defined at a.yaml:6:10',
    ]
