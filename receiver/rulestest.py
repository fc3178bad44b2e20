"""Rule tests (``triaged rules test DIR TESTS...``): what a rules directory decides
for given alerts, checked the way ``promtool test rules`` checks Prometheus rules.

A test file (YAML)::

    cases:
      - name: checkout down pages the primary at once
        labels: {alertname: CheckoutDown, service: checkout}
        at: "2026-11-27T03:00:00Z"
        expect:
          rule: checkout-down
          severity: SEV-1
          policy: null
          paged_now: [primary-oncall]
          silenced: false
      - name: grafana's memory alert falls to the default severity
        payload: payloads/grafana_firing.json     # relative to this file
        source: grafana
        expect: {rule: null, severity: SEV-3}

Each case gives one input:

- ``labels``: an alert's labels (values are strings: quote numbers), classified as is;
- ``payload`` and ``source``: a body as that sender posts it, turned into alerts
  by the source's adapter (``receiver.ingest.normalize``), as the receiver does.
  *Every* alert it yields must meet ``expect``. A body the adapter refuses, or
  one it makes no alert of, fails the case with the adapter's message.

``at`` (optional, with a zone) is the instant the case is judged at: it decides
who is on call in a rotation and which silences are active. Without it,
``DEFAULT_AT`` (2026-01-07T12:00:00Z, a Wednesday noon), never the real clock:
a test gives the same answer every day.

``expect`` checks any of these (at least one):

- ``rule``: the first rule that matches; ``null``: none does (default_severity).
- ``severity``: ``SEV-1`` to ``SEV-4``.
- ``policy``: the team escalation policy the decision follows
  (``Decision.escalation_policy``); ``null``: the severity's own escalation.
- ``paged_now``: the contacts the decision's first escalation step pages at
  ``at``, its contacts and whoever is on call in its rotations, in any order;
  ``[]`` when nobody (e.g. the severity has no escalation). It is whom that step
  names: silences, ``page: business_hours`` and ``after`` are not applied.
- ``silenced``: whether a silence of the rule files matches the labels and is
  active at ``at``.

``load_cases`` refuses a file with unknown keys, a bad ``at``, both inputs or
neither, a source without an adapter, a payload it cannot read or duplicate case
names: it raises ``RuleSetErrors``, one ``path:line:col: key.path: reason`` each.
``run_cases`` never raises for a case that fails: a failure is a ``CaseResult``.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from receiver.errors import PayloadError
from receiver.ingest import normalize
from receiver.sources import SOURCES, Source, sources_for
from rules import RuleFileError, RuleSet, RuleSetErrors, Severity
from rules.fields import invalid
from rules.positions import Document, Loc, parse_document
from rules.silences import Instant, silence_matches, window_at

DEFAULT_AT = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
"""When a case without ``at`` is judged: a Wednesday noon, UTC."""

FIELDS = ("rule", "severity", "policy", "paged_now", "silenced")
"""What ``expect`` may check, in the order results show them."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Model):
    """What a case expects; only the fields given are checked (``model_fields_set``)."""

    rule: str | None = None
    severity: Severity | None = None
    policy: str | None = None
    paged_now: list[str] | None = None
    silenced: bool | None = None

    @field_validator("severity", "paged_now", "silenced", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise invalid("null", "null is not a value here: give one, or leave the key out")
        return value


class _CaseSpec(_Model):
    name: str
    labels: dict[str, str] | None = None
    payload: str | None = None
    source: str | None = None
    at: Instant | None = None
    expect: Expect

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise invalid("blank", "empty name: say what the case checks")
        return value

    @field_validator("labels", mode="before")
    @classmethod
    def _string_values(cls, value: Any) -> Any:
        for key, item in value.items() if isinstance(value, dict) else ():
            if not isinstance(item, str):
                raise invalid("label", f"label {key}: values are strings, got {item!r}: quote it")
        return value

    @field_validator("expect")
    @classmethod
    def _checks_something(cls, value: Expect) -> Expect:
        if not value.model_fields_set:
            raise invalid("expect", f"nothing to check: give any of {', '.join(FIELDS)}")
        return value


class _TestFile(_Model):
    cases: list[dict[str, Any]] = Field(min_length=1)  # each checked alone: every error shows


@dataclass(frozen=True)
class Case:
    """One loaded case: its input, when it is judged, and what it expects.

    Attributes:
        name: What the case checks, as reports name it.
        file: The test file.
        line: The 1-based line the case starts at.
        expect: What it expects (only ``expect.model_fields_set`` is checked).
        at: When it is judged (UTC).
        labels: The alert's labels, for a labels case.
        source: The sender, for a payload case.
        payload: The payload file, for a payload case.
        body: Its bytes, read at load.
    """

    name: str
    file: str
    line: int | None
    expect: Expect
    at: datetime
    labels: Mapping[str, str] | None = None
    source: str | None = None
    payload: Path | None = None
    body: bytes = b""


@dataclass(frozen=True)
class CaseResult:
    """How one case fared.

    Attributes:
        name: The case.
        file: Its test file.
        line: Where it starts in the file.
        passed: Whether every alert met ``expect``.
        failures: ``field: expected X, got Y`` lines (prefixed ``alert i of n:``
            for a payload of several alerts), or why the payload was refused.
        diff: A unified diff of the expected against the actual values.
    """

    name: str
    file: str
    line: int | None
    passed: bool
    failures: tuple[str, ...] = ()
    diff: tuple[str, ...] = ()

    @property
    def location(self) -> str:
        """``file:line``."""
        return self.file if self.line is None else f"{self.file}:{self.line}"


def load_cases(path: Path, *, sources: Collection[str] = SOURCES) -> list[Case]:
    """Read and check one test file.

    Args:
        path: The test file.
        sources: The source names a payload case may give (``sources_for(ruleset.sources)``
            to allow the mapped sources of a rules directory).

    Returns:
        Its cases, in file order.

    Raises:
        RuleSetErrors: Every problem in the file, each with its line and key path.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = f"cannot read: {exc.strerror}" if isinstance(exc, OSError) else f"not UTF-8: {exc}"
        raise RuleSetErrors([RuleFileError(str(path), None, None, "", reason)]) from exc
    doc, errors = parse_document(str(path), text)
    if doc is None:
        raise RuleSetErrors(errors)
    if not isinstance(doc.data, dict):
        errors.append(doc.error((), "expected a mapping with the key cases"))
        raise RuleSetErrors(errors)
    try:
        items = _TestFile.model_validate(doc.data).cases
    except ValidationError as exc:
        raise RuleSetErrors(errors + [_error(doc, (), e) for e in exc.errors()]) from exc
    cases: list[Case] = []
    first: dict[str, Case] = {}
    for i, item in enumerate(items):
        try:
            spec = _CaseSpec.model_validate(item)
        except ValidationError as exc:
            errors += [_error(doc, ("cases", i), e) for e in exc.errors()]
            continue
        case = _case(doc, path, i, spec, sources, errors)
        if case.name in first:
            reason = f"duplicate case name {case.name!r} (first at line {first[case.name].line})"
            errors.append(doc.error(("cases", i, "name"), reason))
        first.setdefault(case.name, case)
        cases.append(case)
    if errors:
        raise RuleSetErrors(sorted(errors, key=lambda e: (e.line or 0, e.column or 0)))
    return cases


def _case(
    doc: Document,
    path: Path,
    index: int,
    spec: _CaseSpec,
    sources: Collection[str],
    errors: list[RuleFileError],
) -> Case:
    where = ("cases", index)
    if spec.labels is None and spec.payload is None:
        errors.append(doc.error(where, "no input: give labels, or payload with its source"))
    elif spec.labels is not None and spec.payload is not None:
        errors.append(doc.error(where, "both labels and payload: a case gives one of the two"))
    elif spec.labels is not None and spec.source is not None:
        errors.append(doc.error((*where, "source"), "source goes with payload, not labels"))
    body, payload = b"", None
    if spec.payload is not None:
        payload = path.parent / spec.payload
        try:
            body = payload.read_bytes()
        except OSError as exc:
            errors.append(doc.error((*where, "payload"), f"cannot read {payload}: {exc.strerror}"))
        if spec.source is None:
            reason = "a payload needs its source: name the sender, e.g. source: grafana"
            errors.append(doc.error((*where, "payload"), reason, at_key=True))
        elif spec.source not in sources:
            close = difflib.get_close_matches(spec.source, sorted(sources), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            reason = f"unknown source {spec.source!r}{hint}: known are {', '.join(sorted(sources))}"
            errors.append(doc.error((*where, "source"), reason))
    return Case(
        name=spec.name,
        file=str(path),
        line=doc.error(where, "").line,  # the line the case starts at
        expect=spec.expect,
        at=spec.at or DEFAULT_AT,
        labels=spec.labels,
        source=spec.source,
        payload=payload,
        body=body,
    )


def _error(doc: Document, prefix: Loc, error: ErrorDetails) -> RuleFileError:
    """A pydantic error as a located RuleFileError (``prefix``: where the model sits)."""
    kind, ctx = error["type"], error.get("ctx", {})
    loc = (*prefix, *error["loc"])
    if kind == "extra_forbidden":
        models: dict[int, type[BaseModel]] = {1: _TestFile, 3: _CaseSpec}
        model = models.get(len(loc), Expect)
        close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return doc.error(
            loc, f"unknown key{hint}: expected {', '.join(model.model_fields)}", at_key=True
        )
    if kind == "missing":
        return doc.error(loc, "missing required key", anchor=loc[:-1], at_key=True)
    if kind == "enum" and "expected" in ctx:
        return doc.error(loc, f"invalid value {error.get('input')!r}: expected {ctx['expected']}")
    if "reason" in ctx:
        return doc.error(loc, error["msg"])
    reason = error["msg"][:1].lower() + error["msg"][1:]
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        reason += f", got {value!r}"
    return doc.error(loc, reason)


@dataclass(frozen=True)
class _Actual:
    """What the rules make of one alert's labels at one instant."""

    values: dict[str, Any]
    unpaged_rotations: list[str]
    silenced_by: list[str]


def _actual(ruleset: RuleSet, labels: Mapping[str, str], at: datetime) -> _Actual:
    decision = ruleset.classify(labels)
    paged, empty = decision.steps[0].who(at) if decision.steps else ([], [])
    silences = [
        s.name
        for s in ruleset.silences
        if silence_matches(s, labels) and window_at(s, at) is not None
    ]
    values = {
        "rule": decision.rule,
        "severity": str(decision.severity),
        "policy": decision.escalation_policy,
        "paged_now": [c.name for c in paged],
        "silenced": bool(silences),
    }
    return _Actual(values, empty, silences)


def run_cases(
    ruleset: RuleSet, cases: Sequence[Case], *, sources: Mapping[str, Source] | None = None
) -> list[CaseResult]:
    """Judge every case against ``ruleset``.

    Args:
        ruleset: The rules under test.
        cases: Cases from ``load_cases``.
        sources: The adapters (default: ``sources_for(ruleset.sources)``).

    Returns:
        One result per case, in order.
    """
    adapters = sources_for(ruleset.sources) if sources is None else sources
    return [_run(ruleset, case, adapters) for case in cases]


def _run(ruleset: RuleSet, case: Case, adapters: Mapping[str, Source]) -> CaseResult:
    def failed(reason: str) -> CaseResult:
        return CaseResult(case.name, case.file, case.line, False, (reason,))

    if case.labels is not None:
        alerts = [dict(case.labels)]
    else:
        source = adapters.get(case.source or "")
        if source is None:
            return failed(f"unknown source {case.source!r}")
        try:
            alerts = [alert.labels for alert in normalize(source, case.body)]
        except PayloadError as exc:
            return failed(f"{case.payload}: refused by the {source.name} adapter: {exc.message}")
        if not alerts:
            return failed(f"{case.payload}: the {source.name} adapter made no alert of it")
    failures: list[str] = []
    expected: list[str] = []
    actual: list[str] = []
    for i, labels in enumerate(alerts, 1):
        found = _actual(ruleset, labels, case.at)
        problems = _compare(case.expect, found, ruleset)
        if not problems:
            continue
        prefix = f"alert {i} of {len(alerts)}: " if len(alerts) > 1 else ""
        failures += [prefix + p for p in problems.values()]
        header = (
            [] if case.labels is not None else [f"# alert {i} of {len(alerts)}: {_show(labels)}"]
        )
        checked = [f for f in FIELDS if f in case.expect.model_fields_set]
        expected += header + [f"{f}: {_show(getattr(case.expect, f))}" for f in checked]
        # a field that passed shows as expected (paged_now in another order is no change)
        shown = {f: found.values[f] if f in problems else getattr(case.expect, f) for f in checked}
        actual += header + [f"{f}: {_show(shown[f])}" for f in checked]
    diff = difflib.unified_diff(expected, actual, "expected", "actual", lineterm="")
    return CaseResult(case.name, case.file, case.line, not failures, tuple(failures), tuple(diff))


def _compare(expect: Expect, found: _Actual, ruleset: RuleSet) -> dict[str, str]:
    """``field: expected X, got Y`` for every checked field that differs, by field."""
    problems = {}
    for field in FIELDS:
        if field not in expect.model_fields_set:
            continue
        want, got = getattr(expect, field), found.values[field]
        if field == "paged_now" and sorted(set(want)) == sorted(set(got)):
            continue
        if want == got:
            continue
        problem = f"{field}: expected {_show(want)}, got {_show(got)}"
        problems[field] = problem + _hint(field, want, found, ruleset)
    return problems


def _hint(field: str, want: Any, found: _Actual, ruleset: RuleSet) -> str:
    notes = []
    if field == "rule" and want is not None and all(r.name != want for r in ruleset.rules):
        notes.append(f"no rule is named {want}")
    if field == "policy" and want is not None and want not in ruleset.policies:
        notes.append(f"no policy is named {want}")
    if field == "paged_now":
        unknown = [name for name in want if name not in ruleset.contacts]
        if unknown:
            notes.append(f"no contact is named {', '.join(unknown)}")
        if found.unpaged_rotations:
            notes.append(f"nobody on call in {', '.join(found.unpaged_rotations)}")
    if field == "silenced" and found.silenced_by:
        notes.append(f"by {', '.join(found.silenced_by)}")
    return f" ({'; '.join(notes)})" if notes else ""


def _show(value: Any) -> str:
    """A value as YAML flow text: null, true, SEV-1, [a, b], {k: v}."""
    if isinstance(value, Severity):
        value = value.value
    if isinstance(value, Mapping):
        value = dict(sorted(value.items()))
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...")


def report(results: Sequence[CaseResult]) -> str:
    """Human text: ``PASS name``, or ``FAIL name (file:line)`` with the failures and the
    diff indented under it; then ``N passed, M failed``."""
    lines = []
    for result in results:
        if result.passed:
            lines.append(f"PASS {result.name}")
            continue
        lines.append(f"FAIL {result.name} ({result.location})")
        lines += [f"    {line}" for line in (*result.failures, *result.diff)]
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


def report_json(results: Sequence[CaseResult]) -> dict[str, Any]:
    """The results as JSON-ready data: counts, then one object per case."""
    passed = sum(r.passed for r in results)
    return {
        "passed": passed,
        "failed": len(results) - passed,
        "cases": [
            {
                "name": r.name,
                "file": r.file,
                "line": r.line,
                "passed": r.passed,
                "failures": list(r.failures),
                "diff": list(r.diff),
            }
            for r in results
        ],
    }
