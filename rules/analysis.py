"""What a loaded ``RuleSet`` means: rules that can never win, contacts nobody
pages, and, for one set of labels, how the rules decide (``triaged rules
check`` and ``triaged rules explain``). Pure: the time is passed in.

``findings(ruleset)`` reports what the loader's warnings do not:

- ``never_matches``: a rule whose matchers contradict each other, or hold a
  regex that matches no value.
- ``shadowed``: a rule an earlier rule always matches first.
- ``unreachable_contact``: a contact in escalation steps that no decision uses.

Every finding is *proven*: a rule set that is fine must never be reported,
so a case the analysis cannot decide is left alone. A rule is a conjunction of
matchers, and each matcher constrains one label value (absent = ``""``), so
rules are compared label by label. The proofs rest on finite sets of values:

- ``a="x"`` allows exactly ``{"x"}``; ``a=~"r"`` allows a finite set when
  ``r`` is built only of literals, alternations, groups, character classes of
  literals and ranges, bounded repeats (``?``, ``{1,3}``) and anchors, with no
  flags. The set is read off Python's own regex parser with anchors taken as
  matching anywhere, which can only add values; every value is then checked
  with the rule's real, anchored regex, which leaves exactly the values it
  matches. ``a!="x"`` and ``a!~"r"`` (``r`` finite) reject such a finite set.
- A rule never matches when, for one label, a matcher's finite set of values
  is rejected value by value by the rule's other matchers on that label
  (``a="x", a="y"``; ``a="x", a!~"x|y"``; ``a=~"[0-9]+", a="abc"``), when a
  regex's finite set is empty (``a^b``, ``$x``), or when it has ``a=~"r"``
  and ``a!~"r"``.
- An earlier rule E shadows a later rule L when each matcher ``m`` of E is
  implied by L's matchers on ``m``'s label: L has ``m`` itself; or L allows a
  finite set of values, all of which ``m`` accepts (E ``severity=~"critical|page"``,
  L ``severity="critical"``); or ``m`` rejects a finite set of values, each of
  which one of L's matchers rejects (E ``env!="prod"``, L ``env=~"dev|test"``).

Left alone, as unprovable here: regexes with ``.``, ``\\d``, ``*``, ``+`` or
flags (``(?i)``); ``.+`` does not imply ``!=""`` anyway, ``.`` misses ``"\\n"``.
"""

from __future__ import annotations

import importlib
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from rules.calendar import is_open, next_open
from rules.durations import format_duration
from rules.engine import CompiledRule, Decision, ResolvedContact, RuleSet
from rules.matchers import Matcher, MatchOp, compile_anchored, parse_matcher
from rules.schema import Digest, EscalationStep, PageMode, Severity, Stakeholders

# The stdlib's regex parser (``sre_parse`` is its deprecated alias); typeshed has no stub.
_parser: Any = importlib.import_module("re._parser")
_MAX_VALUES = 256  # larger finite sets are left alone
_MAX_REPEAT = 4


class FindingKind(StrEnum):
    """What a finding is about."""

    SHADOWED = "shadowed"
    NEVER_MATCHES = "never_matches"
    UNREACHABLE_CONTACT = "unreachable_contact"


@dataclass(frozen=True)
class Finding:
    """A warning about a rule set that loads but is probably wrong.

    Attributes:
        kind: What it is about.
        message: One sentence, naming the rule (file #position) or contact.
        file: The rule's file name, or None when not about a rule.
        position: The rule's 1-based position in that file, or None.
    """

    kind: FindingKind
    message: str
    file: str | None = None
    position: int | None = None

    def __str__(self) -> str:
        return self.message


def findings(ruleset: RuleSet) -> list[Finding]:
    """Find never-matching and shadowed rules, then unreachable contacts.

    Args:
        ruleset: A loaded rule set.

    Returns:
        The findings, rules in evaluation order, then contacts in file order.
    """
    found: list[Finding] = []
    live: list[_Profile] = []
    for rule in ruleset.rules:
        profile = _profile(rule)
        reason = next((c.contradiction for c in profile.labels.values() if c.contradiction), None)
        if reason is not None:
            message = f"{_rule(rule)} never matches: {reason}"
            found.append(Finding(FindingKind.NEVER_MATCHES, message, rule.source, rule.position))
            continue
        earlier = next((e.rule for e in live if _shadows(e, profile)), None)
        if earlier is not None:
            message = (
                f"{_rule(rule)} is shadowed by {_rule(earlier)}: every alert it matches, "
                f'"{earlier.name}" matches first'
            )
            found.append(Finding(FindingKind.SHADOWED, message, rule.source, rule.position))
        live.append(profile)
    found.extend(_unreachable_contacts(ruleset))
    return found


def _rule(rule: CompiledRule) -> str:
    return f'rule "{rule.name}" ({rule.source} #{rule.position})'


# -- what a rule requires of one label ----------------------------------------------


@dataclass(frozen=True)
class _Constraint:
    """A rule's matchers on one label: ``values`` is exactly the set of values they
    allow when it is finite and known (None: unknown); ``contradiction`` says why
    no value satisfies them, when that is proven."""

    matchers: tuple[Matcher, ...]
    values: frozenset[str] | None
    contradiction: str | None


@dataclass(frozen=True)
class _Profile:
    """A rule's constraints by label, and what each of its matchers rejects
    (``_rejected``), worked out once."""

    rule: CompiledRule
    labels: dict[str, _Constraint]
    rejected: tuple[frozenset[str] | None, ...]


def _profile(rule: CompiledRule) -> _Profile:
    by_label: dict[str, list[Matcher]] = {}
    for m in rule.matchers:
        by_label.setdefault(m.name, []).append(m)
    labels = {name: _constraint(tuple(ms)) for name, ms in by_label.items()}
    return _Profile(rule, labels, tuple(_rejected(m) for m in rule.matchers))


def _constraint(ms: tuple[Matcher, ...]) -> _Constraint:
    allowed = [(m, a) for m in ms if (a := _allowed(m)) is not None]
    for m, values in allowed:
        if not values:
            return _Constraint(ms, values, f"{m} matches no value")
    for m in ms:
        opposite = Matcher(m.name, MatchOp.NOT_REGEX, m.value)
        if m.op is MatchOp.REGEX and opposite in ms:
            return _Constraint(ms, frozenset(), f"{m} and {opposite} cannot both hold")
    if not allowed:
        return _Constraint(ms, None, None)
    source, candidates = min(allowed, key=lambda pair: len(pair[1]))
    values = frozenset(v for v in candidates if all(_accepts(m, v) for m in ms))
    if values:
        return _Constraint(ms, values, None)
    # every candidate is rejected by another matcher: name the first that rejects each
    culprits = [source] + [next(m for m in ms if not _accepts(m, v)) for v in sorted(candidates)]
    names = list(dict.fromkeys(culprits))
    both = "both" if len(names) == 2 else "all"
    return _Constraint(ms, values, f"{' and '.join(map(str, names))} cannot {both} hold")


def _shadows(earlier: _Profile, later: _Profile) -> bool:
    """Whether every label set ``later`` allows satisfies each matcher of ``earlier``."""
    return all(
        _implies(later.labels.get(m.name), m, rejected)
        for m, rejected in zip(earlier.rule.matchers, earlier.rejected, strict=True)
    )


def _implies(constraint: _Constraint | None, m: Matcher, rejected: frozenset[str] | None) -> bool:
    """Whether every value ``constraint`` allows satisfies ``m`` (which rejects exactly
    ``rejected``, when known)."""
    ms = constraint.matchers if constraint is not None else ()
    if m in ms:
        return True
    if constraint is not None and constraint.values is not None:
        return all(_accepts(m, v) for v in constraint.values)
    return rejected is not None and all(any(not _accepts(o, v) for o in ms) for v in rejected)


def _accepts(m: Matcher, value: str) -> bool:
    return m.matches({m.name: value})


def _allowed(m: Matcher) -> frozenset[str] | None:
    """Exactly the values ``m`` accepts, when ``m`` is ``=`` or a finite ``=~``."""
    if m.op is MatchOp.EQUAL:
        return frozenset({m.value})
    if m.op is MatchOp.REGEX:
        return _regex_values(m)
    return None


def _rejected(m: Matcher) -> frozenset[str] | None:
    """Exactly the values ``m`` rejects, when ``m`` is ``!=`` or a finite ``!~``."""
    if m.op is MatchOp.NOT_EQUAL:
        return frozenset({m.value})
    if m.op is MatchOp.NOT_REGEX:
        return _regex_values(m)
    return None


def _regex_values(m: Matcher) -> frozenset[str] | None:
    """Exactly the values the regex of ``m`` fully matches, when finite and readable."""
    pattern = compile_anchored(m.value, text=str(m))
    if pattern.flags & ~re.UNICODE:
        return None  # (?i) and friends: the literals are not the whole story
    candidates = _sequence(_parser.parse(pattern.pattern))
    if candidates is None:
        return None
    regex = Matcher(m.name, MatchOp.REGEX, m.value)
    return frozenset(v for v in candidates if _accepts(regex, v))


def _sequence(items: Iterable[tuple[Any, Any]]) -> set[str] | None:
    """A finite superset of what a parsed regex sequence matches, or None."""
    result = {""}
    for op, av in items:
        part = _item(op, av)
        if part is None or len(result) * len(part) > _MAX_VALUES:
            return None
        result = {a + b for a in result for b in part}
    return result


def _item(op: Any, av: Any) -> set[str] | None:
    if op is _parser.LITERAL:
        return {chr(av)}
    if op is _parser.AT:  # an anchor: taken as holding anywhere, a superset
        return {""}
    if op is _parser.SUBPATTERN:
        _group, add_flags, del_flags, inner = av
        return None if add_flags or del_flags else _sequence(inner)
    if op is _parser.BRANCH:
        union: set[str] = set()
        for branch in av[1]:
            values = _sequence(branch)
            if values is None:
                return None
            union |= values
        return union
    if op is _parser.IN:
        return _char_class(av)
    if op in (_parser.MAX_REPEAT, _parser.MIN_REPEAT):
        low, high, inner = av
        body = None if high > _MAX_REPEAT else _sequence(inner)
        if body is None or sum(len(body) ** n for n in range(low, high + 1)) > _MAX_VALUES:
            return None
        counts = range(low, high + 1)
        return {"".join(p) for n in counts for p in itertools.product(body, repeat=n)}
    return None  # ., \d, backreferences, ...: not finite or not read here


def _char_class(items: Iterable[tuple[Any, Any]]) -> set[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op is _parser.LITERAL:
            chars.add(chr(av))
        elif op is _parser.RANGE and av[1] - av[0] < _MAX_VALUES:
            chars |= {chr(c) for c in range(av[0], av[1] + 1)}
        else:
            return None  # [^...], \d, large ranges
    return chars


# -- contacts ------------------------------------------------------------------------


def _unreachable_contacts(ruleset: RuleSet) -> Iterable[Finding]:
    """Contacts in escalation steps, but only in steps no decision uses.

    A step is used when a rule (or a regrade of it, or the default severity)
    gives a severity whose steps it is: the escalation for that severity, or
    the rule's policy's steps for it. Every rule counts, even one that never
    matches, and page mode is ignored, so a contact is reported only when no
    rule at all leads to it. Stakeholder and digest contacts are reached.
    A contact in no step at all is left to the loader's own warning.
    """
    plans: dict[str, tuple[EscalationStep, ...]] = {
        f"escalation for {s}": steps for s, steps in ruleset.escalation.items()
    }
    for name, policy in ruleset.policies.items():
        plans |= {f'policy "{name}" for {s}': steps for s, steps in policy.items()}
    used = {f"escalation for {ruleset.default_severity}"}
    for rule in ruleset.rules:
        team = ruleset.policies.get(rule.policy, {}) if rule.policy else {}
        for severity in {rule.severity, *(Severity(r.severity) for r in rule.regrade)}:
            used.add(
                f'policy "{rule.policy}" for {severity}'
                if severity in team
                else f"escalation for {severity}"
            )
    reached = {*_names(ruleset.stakeholders), *_names(ruleset.digest)}
    places: dict[str, list[str]] = {}
    for where, steps in plans.items():
        for contact in _paged(ruleset, steps):
            if where in used:
                reached.add(contact)
            places.setdefault(contact, []).append(where)
    for contact in ruleset.contacts:
        if contact in places and contact not in reached:
            message = (
                f'contact "{contact}" is paged by no rule: it is only in '
                f"{', '.join(places[contact])}, which no rule's severity or policy "
                f"(nor default_severity {ruleset.default_severity}) leads to"
            )
            yield Finding(FindingKind.UNREACHABLE_CONTACT, message)


def _names(section: Stakeholders | Digest | None) -> list[str]:
    """The contacts of ``stakeholders`` or ``digest`` (none when absent)."""
    return list(section.notify) if section is not None else []


def _paged(ruleset: RuleSet, steps: Iterable[EscalationStep]) -> list[str]:
    """Every contact ``steps`` may page: named, or a member or override of a rotation."""
    names: list[str] = []
    for step in steps:
        names += step.notify
        for name in step.rotations:
            rotation = ruleset.rotations[name]
            names += [*rotation.members, *(o.who for o in rotation.overrides)]
    return list(dict.fromkeys(names))


# -- explain ------------------------------------------------------------------------


class Trial(StrEnum):
    """How one rule fared in an explanation."""

    MATCHED = "matched"
    NOT_MATCHED = "not_matched"
    NOT_TRIED = "not_tried"  # an earlier rule matched first


@dataclass(frozen=True)
class RuleTrial:
    """One rule, tried (or not) against the labels.

    Attributes:
        rule: The rule's name.
        file: Its file name.
        position: Its 1-based position in that file.
        status: Matched, not matched, or not tried.
        failed: The matchers that did not match, as written (empty unless not matched).
    """

    rule: str
    file: str
    position: int
    status: Trial
    failed: tuple[str, ...] = ()

    @property
    def matched(self) -> bool:
        """Whether this rule matched (and so decided)."""
        return self.status is Trial.MATCHED


@dataclass(frozen=True)
class OnCall:
    """Who is on call in one rotation of a step (None: nobody)."""

    rotation: str
    person: str | None


@dataclass(frozen=True)
class StepPlan:
    """One escalation step and who it would page at the explanation's time.

    Attributes:
        number: 1-based.
        after_seconds: Delay after the step before.
        contacts: The contacts the step names.
        rotations: Who is on call in each of its rotations.
        paged: Everybody it would page (``ResolvedStep.who``).
        nobody_on_call: The rotations with nobody on call.
    """

    number: int
    after_seconds: float
    contacts: tuple[str, ...]
    rotations: tuple[OnCall, ...]
    paged: tuple[str, ...]
    nobody_on_call: tuple[str, ...]


@dataclass(frozen=True)
class Explanation:
    """How the rules decide for one set of labels at one time (``explain``).

    Attributes:
        labels: The labels, sorted by name.
        at: The time the explanation is for (tz-aware).
        rules: Every rule in order, up to the first match and "not tried" after it.
        decision: The decision, as ``RuleSet.classify`` makes it.
        deadline: The response deadline for an incident classified at ``at``.
        first_page_at: When the first step would page (None: the severity never pages).
        steps: The escalation steps, with who they would page at ``at``.
    """

    labels: tuple[tuple[str, str], ...]
    at: datetime
    rules: tuple[RuleTrial, ...]
    decision: Decision
    deadline: datetime | None
    first_page_at: datetime | None
    steps: tuple[StepPlan, ...]

    def text(self) -> str:
        """The lines ``triaged rules explain`` prints."""
        return "\n".join(_text_lines(self))

    def as_json(self) -> dict[str, Any]:
        """The explanation as JSON-ready data (``--format json``)."""
        d = self.decision
        policy = d.policy.model_dump(mode="json")
        return {
            "labels": dict(self.labels),
            "at": self.at.isoformat(),
            "rules": [
                {
                    "rule": t.rule,
                    "file": t.file,
                    "position": t.position,
                    "status": t.status.value,
                    "matched": t.matched,
                    "failed": list(t.failed),
                }
                for t in self.rules
            ],
            "decision": {
                "rule": d.rule,
                "severity": d.severity.value,
                "why": d.why,
                "probes": [p.name for p in d.probes],
                "escalation_policy": d.escalation_policy,
                "response_time": policy["response_time"],
                "page": policy["page"],
                "deadline": _iso(self.deadline),
                "first_page_at": _iso(self.first_page_at),
            },
            "steps": [
                {
                    "step": s.number,
                    "after_seconds": s.after_seconds,
                    "contacts": list(s.contacts),
                    "rotations": [
                        {"rotation": r.rotation, "on_call": r.person} for r in s.rotations
                    ],
                    "paged": list(s.paged),
                    "nobody_on_call": list(s.nobody_on_call),
                }
                for s in self.steps
            ],
        }


def explain(ruleset: RuleSet, labels: Mapping[str, str], at: datetime) -> Explanation:
    """Say how ``ruleset`` decides for ``labels`` and whom it would page at ``at``.

    Args:
        ruleset: A loaded rule set.
        labels: An alert's labels.
        at: A tz-aware instant: when the alert comes in.

    Returns:
        The explanation.

    Raises:
        ValueError: ``at`` is naive.
    """
    if at.tzinfo is None:
        raise ValueError("at is naive: give a time zone")
    trials: list[RuleTrial] = []
    decided = False
    for rule in ruleset.rules:
        failed = () if decided else tuple(str(m) for m in rule.failed(labels))
        status = Trial.NOT_TRIED if decided else Trial.NOT_MATCHED if failed else Trial.MATCHED
        trials.append(RuleTrial(rule.name, rule.source, rule.position, status, failed))
        decided = decided or status is Trial.MATCHED
    decision = ruleset.classify(labels)
    steps = []
    for number, step in enumerate(decision.steps, start=1):
        paged, empty = step.who(at)
        steps.append(
            StepPlan(
                number=number,
                after_seconds=step.after_seconds,
                contacts=tuple(c.name for c in step.contacts),
                rotations=tuple(_on_call(r.name, r.on_call(at)) for r in step.rotations),
                paged=tuple(c.name for c in paged),
                nobody_on_call=tuple(empty),
            )
        )
    page = decision.policy.page
    first_page_at = (
        None
        if page is PageMode.NEVER
        else next_open(decision.business_hours, at)
        if page is PageMode.BUSINESS_HOURS and not is_open(decision.business_hours, at)
        else at
    )
    return Explanation(
        labels=tuple(sorted(labels.items())),
        at=at,
        rules=tuple(trials),
        decision=decision,
        deadline=decision.deadline(at),
        first_page_at=first_page_at,
        steps=tuple(steps),
    )


def _on_call(rotation: str, person: ResolvedContact | None) -> OnCall:
    return OnCall(rotation, None if person is None else person.name)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _text_lines(e: Explanation) -> Iterable[str]:
    shown = ", ".join(str(Matcher(k, MatchOp.EQUAL, v)) for k, v in e.labels)
    yield f"labels: {shown or '(none)'}"
    yield f"at: {e.at.isoformat()}"
    yield "rules (first match wins):"
    values = dict(e.labels)
    for t in e.rules:
        where = f"  {t.rule} ({t.file} #{t.position}): "
        if t.status is Trial.NOT_MATCHED:
            yield where + "no match: " + ", ".join(_failing(f, values) for f in t.failed)
        else:
            yield where + ("matched" if t.matched else "not tried")
    if not e.rules:
        yield "  (no rules)"
    d = e.decision
    by = f'rule "{d.rule}"' if d.rule is not None else "no rule matched: default_severity"
    yield f"decision: {d.severity} ({by})"
    yield f"  why: {d.why}"
    response = d.policy.model_dump(mode="json")["response_time"]
    due = f", by {e.deadline.isoformat()}" if e.deadline is not None else ""
    yield f"  respond within {response}{due}; pages {d.policy.page}"
    yield f"  probes: {', '.join(p.name for p in d.probes) or '(none)'}"
    yield f"  escalation: {_escalation_source(d)}"
    if e.first_page_at is None:
        yield f"nobody is paged: {d.severity} pages never"
        return
    if not e.steps:
        yield f"nobody is paged: {d.severity} has no escalation steps"
        return
    if e.first_page_at != e.at:
        yield f"outside business hours: the first page waits until {e.first_page_at.isoformat()}"
    yield f"paged, on call as of {e.at.isoformat()}:"
    for s in e.steps:
        when = (
            "at once"
            if not s.after_seconds
            else f"after {format_duration(timedelta(seconds=s.after_seconds))}"
        )
        yield f"  step {s.number} ({when}): {', '.join(s.paged) or 'nobody'}"
        for r in s.rotations:
            yield f"    rotation {r.rotation}: {r.person or 'nobody'} on call"


def _escalation_source(d: Decision) -> str:
    if d.escalation_policy is not None:
        return f'policy "{d.escalation_policy}" for {d.severity}'
    return f"escalation for {d.severity}"


def _failing(matcher: str, values: Mapping[str, str]) -> str:
    """A failing matcher with the value it failed on: ``env="prod" (is "dev")``."""
    label = parse_matcher(matcher).name
    if label not in values:
        return f"{matcher} ({label} absent)"
    shown = str(Matcher(label, MatchOp.EQUAL, values[label])).removeprefix(f"{label}=")
    return f"{matcher} (is {shown})"
