"""Status updates: the default templates, the sandbox, its limits, the fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError

from receiver import updates
from receiver.model import Incident, IncidentStatus, StoredAlert, TimelineEntry
from receiver.sandbox import Sandbox
from receiver.updates import (
    DEFAULTS,
    MAX_FIELD,
    MAX_OUTPUT,
    TEMPLATES,
    TemplateFailed,
    builtin,
    check_templates,
    load_templates,
    render,
    update_context,
)
from rules import RuleFileError, load_ruleset

PRODUCT = Path(__file__).parents[3] / "rules" / "examples" / "product"
OPENED = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 1, 10, 42, tzinfo=UTC)
LABELS = {"alertname": "HighErrorRate", "service": "checkout", "instance": "10.0.3.4:9090"}
PROBE_LINE = "checkout-health: failed - HTTP 503 (12 ms)"


def incident(status: IncidentStatus = IncidentStatus.OPEN, **changes: Any) -> Incident:
    decision = load_ruleset(PRODUCT).classify(LABELS)
    base = Incident(
        id="inc-1",
        status=IncidentStatus.OPEN,
        severity=decision.severity,
        summary="Checkout error rate above 5%",
        labels=LABELS,
        source="alertmanager",
        group_key="{}:{service=checkout}",
        created_at=OPENED,
        updated_at=OPENED,
        generation=1,
        decision=decision,
        first_page_at=OPENED + timedelta(seconds=20),
    )
    if status is not IncidentStatus.OPEN:
        changes = {
            "acknowledged_by": "alice",
            "acknowledged_at": OPENED + timedelta(minutes=4),
        } | changes
    if status is IncidentStatus.RESOLVED:
        changes = {"resolved_at": OPENED + timedelta(minutes=40)} | changes
    return base.model_copy(update={"status": status, **changes})


def alert(**labels: str) -> StoredAlert:
    return StoredAlert(
        fingerprint="f1",
        status="firing",
        labels={**LABELS, **labels},
        annotations={"summary": "Checkout error rate above 5%"},
        starts_at="2024-05-01T09:59:30Z",
        severity="SEV-1",
        received_at=OPENED,
    )


TIMELINE = [
    TimelineEntry(at=OPENED, kind="opened", detail="SEV-1: rule checkout-down matched"),
    TimelineEntry(at=OPENED + timedelta(seconds=5), kind="probe", detail=PROBE_LINE),
    TimelineEntry(at=OPENED + timedelta(seconds=20), kind="page_sent", detail="bob via webhook"),
]
STATES = [IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED]


def run(source: str, inc: Incident | None = None, alerts: list[StoredAlert] | None = None) -> str:
    return render("internal_status", source, inc or incident(), alerts or [alert()], TIMELINE, NOW)


# --- the default templates ---------------------------------------------------------


@pytest.mark.parametrize("status", STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("name", TEMPLATES)
def test_each_default_renders_for_each_state(name: str, status: IncidentStatus) -> None:
    source = (DEFAULTS / f"{name}.j2").read_text()
    text = render(name, source, incident(status), [alert()], TIMELINE, NOW)
    assert "Checkout error rate above 5%" in text
    assert len(text) < MAX_OUTPUT
    if name != "user_status":
        assert "SEV-1" in text and "inc-1" in text
    if status is IncidentStatus.OPEN and name in ("internal_status", "stakeholder"):
        assert "alice" not in text and "in 30 minutes" in text  # SEV-1's next update
    if status is not IncidentStatus.OPEN and name != "user_status":
        assert "alice" in text and "2024-05-01T10:04:00Z" in text
    if status is IncidentStatus.RESOLVED:
        assert "40m" in text  # created to resolved, not to now


def test_internal_and_post_incident_show_the_diagnosis() -> None:
    for name in ("internal_status", "post_incident"):
        text = render(
            name, (DEFAULTS / f"{name}.j2").read_text(), incident(), [alert()], TIMELINE, NOW
        )
        assert PROBE_LINE in text


@pytest.mark.parametrize("status", STATES, ids=lambda s: s.value)
def test_the_user_facing_update_keeps_internal_details_out(status: IncidentStatus) -> None:
    source = (DEFAULTS / "user_status.j2").read_text()
    text = render("user_status", source, incident(status), [alert()], TIMELINE, NOW)
    for internal in ("10.0.3.4", "instance", "HighErrorRate", "checkout-health", "alice", "inc-1"):
        assert internal not in text
    word = {"open": "Investigating", "acknowledged": "In progress", "resolved": "Resolved"}
    assert text.startswith(word[status.value])


def test_post_incident_lists_key_events_and_an_action_items_placeholder() -> None:
    source = (DEFAULTS / "post_incident.j2").read_text()
    text = render("post_incident", source, incident(IncidentStatus.RESOLVED), [], TIMELINE, NOW)
    assert "2024-05-01T10:00:20Z  page_sent: bob via webhook" in text
    assert "first alert started: unknown" in text  # no alerts: still renders
    assert "Action items:" in text


# --- alert content is data -----------------------------------------------------------


def test_template_looking_alert_content_stays_literal() -> None:
    sneaky = "{{ 7*7 }}"
    inc = incident(summary=sneaky, labels={"service": "{% for %}"})
    source = "{{ incident.summary }}|{{ incident.labels.service }}|{{ alerts[0].labels.team }}"
    assert run(source, inc, [alert(team="{{ ''.__class__ }}")]) == (
        "{{ 7*7 }}|{% for %}|{{ ''.__class__ }}"
    )
    default = (DEFAULTS / "internal_status.j2").read_text()
    text = render("internal_status", default, inc, [alert()], TIMELINE, NOW)
    assert "{{ 7*7 }}" in text and "service={% for %}" in text and "49" not in text


def test_the_context_is_plain_data_with_the_documented_fields() -> None:
    context = update_context(incident(IncidentStatus.ACKNOWLEDGED), [alert()], TIMELINE, NOW)

    def plain(value: Any) -> bool:
        if isinstance(value, dict):
            return all(type(k) is str and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (str, int, float, bool)

    assert plain(context)
    assert set(context) == {"incident", "alerts", "timeline", "diagnosis", "duration", "now"}
    assert set(context["incident"]) == {
        "id", "status", "severity", "summary", "labels", "created_at", "acknowledged_by",
        "acknowledged_at", "resolved_at", "first_page_at", "rule", "why",
    }  # fmt: skip
    assert set(context["alerts"][0]) == {"labels", "annotations", "status", "starts_at"}
    assert context["timeline"][1] == {
        "at": "2024-05-01T10:00:05Z",
        "kind": "probe",
        "detail": PROBE_LINE,
    }
    assert context["diagnosis"] == [PROBE_LINE]
    assert context["incident"]["rule"] == "checkout-down"
    assert (context["duration"], context["now"]) == ("42m", "2024-05-01T10:42:00Z")


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=4, seconds=10), "4m 10s"),
        (timedelta(hours=1, minutes=5, seconds=9), "1h 5m"),
        (timedelta(days=2, hours=3, minutes=59), "2d 3h"),
        (timedelta(days=1, seconds=30), "1d"),
        (timedelta(0), "0s"),
        (-timedelta(minutes=5), "0s"),  # a clock that reads before the start
    ],
)
def test_duration_is_the_two_largest_units(span: timedelta, text: str) -> None:
    assert update_context(incident(), [], [], OPENED + span)["duration"] == text


def test_long_alert_text_is_cut() -> None:
    long = alert().model_copy(update={"annotations": {"description": "x" * 50_000}})
    context = update_context(incident(), [long], [], NOW)
    assert len(context["alerts"][0]["annotations"]["description"]) == MAX_FIELD


# --- failures: every one is a TemplateFailed with a one-line reason --------------------


@pytest.mark.parametrize(
    ("source", "line", "reason"),
    [
        ("ok\n{% for x in %}\n", 2, "Expected an expression"),
        ("ok\n\n{{ incident.nosuch }}", 3, "has no attribute 'nosuch'"),
        ("{{ nosuch }}", 1, "'nosuch' is undefined"),
        ("{{ 1 / 0 }}", 1, "ZeroDivisionError"),
        ("{{ x|nosuchfilter }}", 1, "No filter named 'nosuchfilter'"),
        ("a\n{% include 'other.j2' %}", 2, "include: update templates are self-contained"),
        ("{% extends 'base.j2' %}", 1, "extends"),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", None, "RecursionError"),
    ],
)
def test_template_errors_raise_template_failed(source: str, line: int | None, reason: str) -> None:
    with pytest.raises(TemplateFailed) as failed:
        run(source)
    assert failed.value.name == "internal_status"
    assert reason in failed.value.reason and "\n" not in failed.value.reason
    if line is not None:
        assert failed.value.line == line
        assert str(failed.value).startswith(f"internal_status.j2:{line}: ")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ incident.__class__ }}",
        "{{ alerts.append(1) }}",  # ImmutableSandboxedEnvironment: no mutation
        "{{ incident.labels.update({'a': 'b'}) }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_private_attributes_and_mutation_are_sandbox_errors(source: str) -> None:
    with pytest.raises(TemplateFailed) as failed:
        run(source)
    assert isinstance(failed.value.__cause__, SecurityError)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}", f"output over {MAX_OUTPUT}"),
        ("{{ range(10 ** 6) | list }}", "range over"),
        ("{{ 'x' * 1000000000 }}", "* would make a str"),
        ("{{ [1] * 1000000000 }}", "* would make a list"),
        ("{{ 10 ** 100000 }}", "exponent"),
        ("{{ '%999999999s' % 'x' }}", "% format width"),
        ("{{ '%*s' % (5, 'x') }}", "% format width"),
        ("{{ '%0999999999d'|format(1) }}", "% format width"),
        ("{{ 'x'|center(1000000000) }}", "center: argument"),
        ("{{ 'x'.rjust(1000000000) }}", "str.rjust"),
        ("{{ 'x'|batch(1000000000, 'y')|list }}", "batch: argument"),
        ("{{ '{:>999999999}'.format(1) }}", "str.format is not available"),
        ("{{ ('x' * 10000).replace('x', 'yyyy') }}", "replace would make"),
        ("{{ ('x' * 10000)|replace('', 'yy') }}", "replace would make"),
        ("{{ ('x' * 200).join(range(1000)|map('string')) }}", "separator"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
            "a string over",
        ),
        (
            "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
            "template operations",
        ),
        (  # empty bodies, a list built once: the loops themselves are counted
            "{% set r = range(1000)|list %}{% for a in r %}{% for b in r %}{% for c in r %}"
            "{% endfor %}{% endfor %}{% endfor %}",
            "template operations",
        ),
        (  # a filter pays for the list it walks
            "{% set r = range(1000)|list %}{% for a in range(1000) %}{{ r|sum }}{% endfor %}",
            "template operations",
        ),
        (
            "{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s|length }}{% endmacro %}"
            "{{ d('x', 64) }}",
            "a string over",
        ),
    ],
)
def test_resource_limits_fail_fast(source: str, reason: str) -> None:
    with pytest.raises(TemplateFailed) as failed:
        run(source)
    assert reason in failed.value.reason


def test_the_deadline_is_checked_at_each_operation() -> None:
    env = Sandbox(seconds=0)
    template = env.from_string(env.parse("{% for i in range(3) %}{{ i }}{% endfor %}"))
    with pytest.raises(SecurityError, match="rendering took over 0s"):
        template.render()


def test_counted_loops_keep_their_loop_variable_and_else_branch() -> None:
    source = (
        "{% for a in alerts %}{{ loop.index }}/{{ loop.length }} {{ a.status }}{% endfor %};"
        "{% for x in [] %}x{% else %}empty{% endfor %};"
        "{% for k, v in incident.labels|dictsort if k != 'instance' %}{{ k }} {% endfor %}"
    )
    assert run(source, alerts=[alert(), alert()]) == "1/2 firing2/2 firing;empty;alertname service "


def test_limits_leave_ordinary_templates_alone() -> None:
    source = (
        "{{ '%.1f'|format(99.25) }} {{ '%-8s|' % 'ab' }} {{ 2 ** 10 }} {{ 'ab' * 3 }} "
        "{{ range(3)|join(',') }} {{ 'a-b'.replace('-', ' ') }} {{ incident.labels|length }} "
        "{{ alerts|map(attribute='status')|join }} {{ 'x'|center(5) }}|"
    )
    assert run(source) == "99.2 ab      | 1024 ababab 0,1,2 a b 3 firing   x  |"


# --- builtin: the fallback that cannot fail --------------------------------------------


@pytest.mark.parametrize("status", STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("name", [*TEMPLATES, "no_such_template"])
def test_builtin_never_raises(name: str, status: IncidentStatus) -> None:
    inc = incident(status)
    for args in ((inc, [alert()], TIMELINE, NOW), (inc, [], [], NOW)):
        text = builtin(name, *args)
        assert text.endswith("\n") and len(text) <= MAX_OUTPUT + 1
        assert "Checkout error rate above 5%" in text
    naive = inc.model_copy(update={"created_at": OPENED.replace(tzinfo=None), "summary": "{{ x }}"})
    assert "{{ x }}" in builtin(name, naive, [], [], NOW)
    huge = inc.model_copy(update={"summary": "s" * 100_000})
    assert len(builtin(name, huge, [], TIMELINE, NOW)) == MAX_OUTPUT + 1


def test_builtin_internal_update_has_the_essentials() -> None:
    text = builtin("internal_status", incident(IncidentStatus.ACKNOWLEDGED), [], TIMELINE, NOW)
    assert text.splitlines()[:3] == [
        "[SEV-1] Checkout error rate above 5%",
        "Status: acknowledged, since 2024-05-01T10:00:00Z (42m)",
        "Acknowledged by alice at 2024-05-01T10:04:00Z.",
    ]
    assert f"  - {PROBE_LINE}" in text


# --- loading and checking (what `triaged rules check` runs) ---------------------------


def test_load_templates_uses_the_shipped_defaults_for_missing_files(tmp_path: Path) -> None:
    sources = load_templates(tmp_path)
    assert set(sources) == set(TEMPLATES)
    assert sources["stakeholder"] == (DEFAULTS / "stakeholder.j2").read_text()
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "user_status.j2").write_text("custom {{ incident.status }}\n")
    (tmp_path / "templates" / "internal_staus.j2").write_text("typo\n")
    sources = load_templates(tmp_path)
    assert sources["user_status"] == "custom {{ incident.status }}\n"
    assert sources["internal_status"] == (DEFAULTS / "internal_status.j2").read_text()
    assert check_templates(sources) == [
        "internal_staus.j2: unknown template: expected one of "
        "internal_status, user_status, stakeholder, post_incident"
    ]


def test_load_templates_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "stakeholder.j2").write_bytes(b"\xff\xfe{{ x }}")
    with pytest.raises(RuleFileError, match=r"stakeholder\.j2: cannot read"):
        load_templates(tmp_path)


def test_the_shipped_defaults_pass_the_check() -> None:
    assert check_templates(load_templates(Path("/nonexistent"))) == []
    assert sorted(p.stem for p in DEFAULTS.glob("*.j2")) == sorted(TEMPLATES)


def test_check_templates_reports_file_and_line() -> None:
    sources = {
        "internal_status": "line one\n{{ incident.summary }}\n{% if %}\n",
        "user_status": (
            "{% if incident.acknowledged_by %}\n{{ incident.acknowledged_byy }}\n{% endif %}\n"
        ),
        "stakeholder": "fine: {{ incident.severity }}\n",
        "post_incident": "{{ ''.__class__.__mro__ }}",
    }
    errors = check_templates(sources)
    assert len(errors) == 3
    assert errors[0].startswith("internal_status.j2:3: ")
    assert errors[1] == (
        "post_incident.j2:1: access to attribute '__class__' of 'str' object is unsafe. "
        "(sample open incident)"
    )
    # only the acknowledged sample takes the branch with the typo
    assert errors[2].startswith(
        "user_status.j2:2: 'dict object' has no attribute 'acknowledged_byy'"
    )
    assert errors[2].endswith("(sample acknowledged incident)")


def test_an_over_long_template_source_is_refused() -> None:
    with pytest.raises(TemplateFailed, match="template over"):
        run("x" * (updates.MAX_SOURCE + 1))
