"""The rules engine: labels in, a self-contained ``Decision`` out.

``RuleSet.classify`` tries the rules in order (file name, then position in the
file); the first rule whose matchers all match wins, and when none does the
``default_severity`` applies. The ``Decision`` carries everything later steps
need (policy, probe specs, escalation steps with the contacts' channels,
business hours, the rules version), so it is stored with the incident and
workers never read rule files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from pydantic import BaseModel, ConfigDict

from rules.calendar import response_deadline
from rules.matchers import Matcher
from rules.probes import ProbeTargets, Regrade
from rules.rotations import Rotation, shift_at
from rules.schema import (
    BusinessHours,
    ChannelSpec,
    Contact,
    Digest,
    EscalationStep,
    ProbeKind,
    ProbeSpec,
    Severity,
    SeverityPolicy,
    Stakeholders,
)
from rules.silences import Inhibition, Silence
from rules.sources import SourceConfig


class _Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NamedProbe(_Snapshot):
    """A probe a rule names, with its spec and, for a target that takes alert
    labels, where its file lets it connect (``probe_targets``)."""

    name: str
    spec: ProbeKind
    targets: ProbeTargets | None = None


class ResolvedContact(_Snapshot):
    """A contact of an escalation step, with its channels."""

    name: str
    role: str
    display_name: str | None = None
    channels: list[ChannelSpec]


class ResolvedRotation(_Snapshot):
    """A rotation a step pages: its schedule and its members' contacts, so that a
    worker finds who is on call when the step runs (``rules.rotations.shift_at``)."""

    name: str
    rotation: Rotation
    members: list[ResolvedContact]

    def on_call(self, at: datetime) -> ResolvedContact | None:
        """Who is on call at ``at`` (None: nobody, e.g. before the first handoff)."""
        shift = shift_at(self.rotation, at)
        if shift is None:
            return None
        return next((m for m in self.members if m.name == shift.person), None)


class ResolvedStep(_Snapshot):
    """An escalation step: page ``contacts`` and whoever is on call in ``rotations``,
    ``after_seconds`` after the step before."""

    after_seconds: float
    contacts: list[ResolvedContact]
    rotations: list[ResolvedRotation] = []

    def who(self, at: datetime) -> tuple[list[ResolvedContact], list[str]]:
        """The contacts to page at ``at``, and the rotations nobody is on call in."""
        found = list(self.contacts)
        empty = []
        for rotation in self.rotations:
            person = rotation.on_call(at)
            if person is None:
                empty.append(rotation.name)
            elif all(person.name != c.name for c in found):
                found.append(person)
        return found, empty


class Decision(_Snapshot):
    """What the rules decided for one set of labels: a self-contained snapshot.

    Attributes:
        rule: The rule that matched, or None (``default_severity`` applied).
        severity: The severity.
        why: One human sentence saying which rule matched and on what.
        policy: The severity's policy (response time, paging, repeat, budget).
        probes: The probes to run, in the rule's order.
        steps: The severity's escalation steps, contacts resolved.
        repeat: How many more times the steps run after the last one.
        business_hours: The business hours deadlines and paging follow.
        rules_version: ``RuleSet.version`` of the rules that decided.
    """

    rule: str | None
    severity: Severity
    why: str
    policy: SeverityPolicy
    probes: list[NamedProbe]
    steps: list[ResolvedStep]
    repeat: int
    business_hours: BusinessHours
    rules_version: str
    regrade: list[Regraded] = []
    escalation_policy: str | None = None

    @cached_property
    def as_json(self) -> str:
        """The decision as stored with every alert it classifies (encoded once)."""
        return self.model_dump_json()

    def deadline(self, now: datetime) -> datetime | None:
        """The response deadline for an incident classified at ``now`` (tz-aware)."""
        return response_deadline(self.policy, self.business_hours, now)


class Regraded(_Snapshot):
    """A decision a rule switches to once its probes are in (``Rule.regrade``)."""

    when: str
    probes: list[str]
    decision: Decision

    def holds(self, outcomes: Mapping[str, str]) -> bool:
        """Whether ``when`` holds for the probes' outcomes (name -> outcome)."""
        names = [n for n in self.probes if n in outcomes] if self.probes else list(outcomes)
        if not names:
            return False
        ok = [outcomes[n] == "ok" for n in names]
        return all(ok) if self.when == "all_ok" else not all(ok)


Decision.model_rebuild()


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its matchers parsed.

    Attributes:
        name: The rule's name.
        matchers: All must match.
        severity: The severity it gives.
        probes: Names of the probes to run.
        source: The file it comes from (file name).
        position: Its 1-based position in that file.
    """

    name: str
    matchers: tuple[Matcher, ...]
    severity: Severity
    probes: tuple[str, ...] = ()
    source: str = ""
    position: int = 1
    regrade: tuple[Regrade, ...] = ()
    policy: str | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Say whether every matcher matches ``labels``."""
        return all(m.matches(labels) for m in self.matchers)

    def failed(self, labels: Mapping[str, str]) -> list[Matcher]:
        """The matchers that do not match ``labels``."""
        return [m for m in self.matchers if not m.matches(labels)]


@dataclass(frozen=True)
class RuleSet:
    """A loaded rules directory. Build it with ``rules.load_ruleset``.

    Attributes:
        version: First 12 hex digits of a sha256 over the files' names and bytes.
        rules: All rules, in evaluation order.
        severities: Every severity's policy, diagnosis budget filled in.
        business_hours: The business hours.
        default_severity: The severity when no rule matches.
        contacts: Contacts by name.
        escalation: Escalation steps by severity (absent: nobody is paged).
        probes: Probes by name.
        sources: Per-sender settings (auth, rate limit, SNS, mapping) by source name.
        source_files: The files loaded, in order.
        warnings: Things that load but are probably wrong.
    """

    version: str
    rules: tuple[CompiledRule, ...]
    severities: Mapping[Severity, SeverityPolicy]
    business_hours: BusinessHours
    default_severity: Severity
    contacts: Mapping[str, Contact]
    escalation: Mapping[Severity, tuple[EscalationStep, ...]]
    probes: Mapping[str, ProbeSpec]
    source_files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    probe_targets: Mapping[str, ProbeTargets] = field(default_factory=dict)
    rotations: Mapping[str, Rotation] = field(default_factory=dict)
    silences: tuple[Silence, ...] = ()
    inhibitions: tuple[Inhibition, ...] = ()
    digest: Digest | None = None
    stakeholders: Stakeholders | None = None
    policies: Mapping[str, Mapping[Severity, tuple[EscalationStep, ...]]] = field(
        default_factory=dict
    )
    _decisions: dict[str | None, Decision] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Every possible decision, made once: classify only picks one.
        decisions: dict[str | None, Decision] = {r.name: self._decide(r) for r in self.rules}
        decisions[None] = self._decide(None)
        object.__setattr__(self, "_decisions", decisions)

    def classify(self, labels: Mapping[str, str]) -> Decision:
        """Decide severity, probes and escalation for an alert's labels.

        Args:
            labels: The alert's labels.

        Returns:
            The first matching rule's decision, else the default severity's.
        """
        rule = next((r for r in self.rules if r.matches(labels)), None)
        return self._decisions[None if rule is None else rule.name]

    def _decide(self, rule: CompiledRule | None) -> Decision:
        decision = self._decision(rule, None)
        if rule is None or not rule.regrade:
            return decision
        options = [
            Regraded(when=r.when, probes=list(r.probes), decision=self._decision(rule, r))
            for r in rule.regrade
        ]
        return decision.model_copy(update={"regrade": options})

    def _decision(self, rule: CompiledRule | None, regrade: Regrade | None) -> Decision:
        if rule is None:
            severity = self.default_severity
            why = f"no rule matched; default_severity {severity}"
            probe_names: tuple[str, ...] = ()
        else:
            severity = rule.severity
            matched = ", ".join(str(m) for m in rule.matchers)
            why = f'rule "{rule.name}" ({rule.source} #{rule.position}) matched: {matched}'
            probe_names = rule.probes
        if rule is not None and regrade is not None:
            severity = Severity(regrade.severity)
            which = ", ".join(regrade.probes) or "its probes"
            found = "all came back ok" if regrade.when == "all_ok" else "one did not come back ok"
            why = f'rule "{rule.name}" regraded to {severity}: of {which}, {found}'
        policy = self.severities[severity]
        named = rule.policy if rule is not None else None
        team = self.policies.get(named, {}) if named else {}
        steps = team.get(severity) if severity in team else self.escalation.get(severity, ())
        if named and severity in team:
            why += f"; escalation policy {named}"
        return Decision(
            rule=None if rule is None else rule.name,
            severity=severity,
            why=why,
            policy=policy,
            probes=[
                NamedProbe(name=n, spec=self.probes[n].spec, targets=self.probe_targets.get(n))
                for n in probe_names
            ],
            steps=[self._resolve(step) for step in steps or ()],
            escalation_policy=named if named and severity in team else None,
            repeat=policy.repeat,
            business_hours=self.business_hours,
            rules_version=self.version,
        )

    def _resolve(self, step: EscalationStep) -> ResolvedStep:
        contacts = [self.contact(name) for name in step.notify]
        rotations = []
        for name in step.rotations:
            rotation = self.rotations[name]
            people = dict.fromkeys([*rotation.members, *(o.who for o in rotation.overrides)])
            rotations.append(
                ResolvedRotation(
                    name=name, rotation=rotation, members=[self.contact(p) for p in people]
                )
            )
        return ResolvedStep(
            after_seconds=step.after.total_seconds(), contacts=contacts, rotations=rotations
        )

    def contact(self, name: str) -> ResolvedContact:
        """A contact with its channels, as decisions carry it."""
        return ResolvedContact(
            name=name,
            role=self.contacts[name].role,
            display_name=self.contacts[name].name,
            channels=list(self.contacts[name].channels),
        )
