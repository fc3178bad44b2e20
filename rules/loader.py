"""Load a rules directory into one ``RuleSet``, or say everything that is wrong.

The files are every ``*.yaml`` and ``*.yml`` in the directory (not in
subdirectories; names starting with ``.`` are skipped), read in lexical order
of file name; rules keep that order, then their order in the file. Each file is
checked against ``rules.schema.RuleFile``; then the files are merged. A name or
section defined twice is an error: a contact, probe or rule name, a severity's
policy or escalation, ``business_hours``, ``default_severity``. Then every
reference is checked (rule -> probe, escalation step -> contact). What no file
defines comes from ``rules.defaults`` (the runbook).

Every problem found in any file is collected, with file, line, column and key
path, and raised together as one ``RuleSetErrors``.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from rules.defaults import (
    DEFAULT_BUSINESS_HOURS,
    DEFAULT_SEVERITY,
    RUNBOOK_SEVERITIES,
    with_budget,
)
from rules.durations import format_duration
from rules.engine import CompiledRule, RuleSet
from rules.errors import RuleFileError, RuleSetErrors, UnknownReference
from rules.positions import Document, Loc, parse_document
from rules.probes import ProbeTargets, placeholders
from rules.rotations import Rotation
from rules.schema import (
    UNION_TAGS,
    BusinessHours,
    Contact,
    Digest,
    EscalationStep,
    PageMode,
    ProbeSpec,
    RuleFile,
    Severity,
    SeverityPolicy,
    Stakeholders,
)
from rules.silences import Inhibition, Silence
from rules.sources import BUILTIN_SOURCES, SourceAuth, SourceConfig

SUFFIXES = (".yaml", ".yml")
_TOP_KEYS = ", ".join(RuleFile.model_fields)


def load_ruleset(directory: str | Path) -> RuleSet:
    """Load every rule file of ``directory`` into one RuleSet.

    Args:
        directory: The rules directory.

    Returns:
        The merged, checked rules.

    Raises:
        RuleSetErrors: The directory is missing or holds no rule file, or any
            file has any problem; each one is listed with file:line:col.
    """
    files = rule_files(Path(directory))
    merge = _Merge()
    digest = hashlib.sha256()
    for path in files:
        content = path.read_bytes()
        digest.update(b"%s\0%d\0%s" % (path.name.encode(), len(content), content))
        merge.add(str(path), content)
    merge.check_references()
    if merge.errors:
        order = {str(p): i for i, p in enumerate(files)}
        merge.errors.sort(key=lambda e: (order.get(e.path, -1), e.line or 0, e.column or 0))
        raise RuleSetErrors(merge.errors)
    return merge.build(digest.hexdigest()[:12], tuple(str(p) for p in files))


def rule_files(directory: Path) -> list[Path]:
    """The rule files of ``directory``, in load order.

    Raises:
        RuleSetErrors: The directory is missing, not a directory, or empty.
    """
    problem = None
    if not directory.exists():
        problem = "rules directory does not exist"
    elif not directory.is_dir():
        problem = "not a directory: give the directory that holds the rule files"
    else:
        files = sorted(
            (p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file()),
            key=lambda p: p.name,
        )
        files = [p for p in files if not p.name.startswith(".")]
        if files:
            return files
        problem = "no rule files (*.yaml, *.yml) in this directory"
    raise RuleSetErrors([RuleFileError(str(directory), None, None, "", problem)])


class _Merge:
    """The files merged so far, where each thing was first defined, and the errors."""

    def __init__(self) -> None:
        self.errors: list[RuleFileError] = []
        self.severities: dict[Severity, SeverityPolicy] = {}
        self.business_hours: BusinessHours | None = None
        self.default_severity: Severity | None = None
        self.contacts: dict[str, Contact] = {}
        self.escalation: dict[Severity, tuple[EscalationStep, ...]] = {}
        self.policies: dict[str, dict[Severity, tuple[EscalationStep, ...]]] = {}
        self.rotations: dict[str, Rotation] = {}
        self.silences: list[Silence] = []
        self.inhibitions: list[Inhibition] = []
        self.digest: Digest | None = None
        self.stakeholders: Stakeholders | None = None
        self.probes: dict[str, ProbeSpec] = {}
        self.rules: list[CompiledRule] = []
        self.sources: dict[str, SourceConfig] = {}
        self.probe_targets: dict[str, ProbeTargets] = {}
        self._first: dict[tuple[str, str], tuple[Document, Loc]] = {}
        self._salvaged: dict[str, set[str]] = {"probes": set(), "contacts": set()}
        self._references: list[tuple[str, str, Document, Loc]] = []

    def add(self, path: str, content: bytes) -> None:
        """Check one file and merge it in."""
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.errors.append(RuleFileError(path, None, None, "", f"not UTF-8 text: {exc}"))
            return
        if not text.strip():
            # most often a save caught halfway (truncated, not yet written): loading it
            # would drop every rule it held without a word
            reason = "empty file (a save in progress?); a file meant to be empty has a comment"
            self.errors.append(RuleFileError(path, 1, 1, "", reason))
            return
        doc, errors = parse_document(path, text)
        self.errors.extend(errors)
        if doc is None:
            return
        data = {} if doc.data is None else doc.data
        if not isinstance(data, dict):
            reason = f"expected a mapping with any of the keys: {_TOP_KEYS}"
            self.errors.append(doc.error((), reason))
            return
        try:
            rule_file = RuleFile.model_validate(data)
        except ValidationError as exc:
            self.errors.extend(_translate(doc, exc.errors()))
            self._salvage(doc, data)
            return
        self._merge(doc, rule_file)

    def _merge(self, doc: Document, rf: RuleFile) -> None:
        for severity, policy in rf.severities.items():
            if self._claim(doc, ("severities", severity.value), f"severity policy {severity}"):
                self.severities[severity] = policy
        if rf.business_hours is not None and self._claim(
            doc, ("business_hours",), "business_hours"
        ):
            self.business_hours = rf.business_hours
        if rf.default_severity is not None and self._claim(
            doc, ("default_severity",), "default_severity"
        ):
            self.default_severity = rf.default_severity
        for name, contact in rf.contacts.items():
            if self._claim(doc, ("contacts", name), f'contact "{name}"'):
                self.contacts[name] = contact
        for name, probe in rf.probes.items():
            if self._claim(doc, ("probes", name), f'probe "{name}"'):
                self.probes[name] = probe
                if rf.probe_targets is not None:
                    self.probe_targets[name] = rf.probe_targets
        for severity, steps in rf.escalation.items():
            loc = ("escalation", severity.value)
            if self._claim(doc, loc, f"escalation for {severity}"):
                self.escalation[severity] = tuple(steps)
            self._check_steps(doc, loc, steps)
        for name, by_severity in rf.policies.items():
            if self._claim(doc, ("policies", name), f'escalation policy "{name}"'):
                self.policies[name] = {sev: tuple(steps) for sev, steps in by_severity.items()}
            for severity, steps in by_severity.items():
                self._check_steps(doc, ("policies", name, severity.value), steps)
        for name, rotation in rf.rotations.items():
            if self._claim(doc, ("rotations", name), f'rotation "{name}"'):
                self.rotations[name] = rotation
            for j, member in enumerate(rotation.members):
                self._references.append(("contact", member, doc, ("rotations", name, "members", j)))
            for j, override in enumerate(rotation.overrides):
                who: Loc = ("rotations", name, "overrides", j, "who")
                self._references.append(("contact", override.who, doc, who))
        self.inhibitions.extend(rf.inhibit)
        if rf.stakeholders is not None and self._claim(doc, ("stakeholders",), "stakeholders"):
            self.stakeholders = rf.stakeholders
            for j, name in enumerate(rf.stakeholders.notify):
                self._references.append(("contact", name, doc, ("stakeholders", "notify", j)))
        if rf.digest is not None and self._claim(doc, ("digest",), "digest"):
            self.digest = rf.digest
            for j, name in enumerate(rf.digest.notify):
                self._references.append(("contact", name, doc, ("digest", "notify", j)))
        for i, silence in enumerate(rf.silences):
            if self._claim(doc, ("silences", i, "name"), f'silence "{silence.name}"', silence.name):
                self.silences.append(silence)
        for name, config in rf.sources.items():
            if self._claim(doc, ("sources", name), f'source "{name}"'):
                self.sources[name] = config
                self._check_source(doc, name, config)
        for i, rule in enumerate(rf.rules):
            if not self._claim(doc, ("rules", i, "name"), f'rule name "{rule.name}"', rule.name):
                continue
            for j, name in enumerate(rule.probes):
                self._references.append(("probe", name, doc, ("rules", i, "probes", j)))
            if rule.policy is not None:
                self._references.append(("policy", rule.policy, doc, ("rules", i, "policy")))
            for k, regrade in enumerate(rule.regrade):
                for j, name in enumerate(regrade.probes):
                    if name not in rule.probes:
                        reason = f'"{name}" is not one of the rule\'s probes'
                        self.errors.append(
                            doc.error(("rules", i, "regrade", k, "probes", j), reason)
                        )
                if not rule.probes:
                    reason = "regrade needs probes: the rule runs none"
                    self.errors.append(doc.error(("rules", i, "regrade"), reason, at_key=True))
            source = Path(doc.path).name
            self.rules.append(
                CompiledRule(
                    rule.name,
                    rule.parsed_matchers(),
                    rule.severity,
                    tuple(rule.probes),
                    source,
                    i + 1,
                    tuple(rule.regrade),
                    rule.policy,
                )
            )

    def _check_steps(self, doc: Document, loc: Loc, steps: list[EscalationStep]) -> None:
        if steps and steps[0].after:
            reason = "the first step pages at once: remove after (or set it to 0)"
            self.errors.append(doc.error((*loc, 0, "after"), reason))
        for k, step in enumerate(steps):
            for j, name in enumerate(step.notify):
                self._references.append(("contact", name, doc, (*loc, k, "notify", j)))
            for j, name in enumerate(step.rotations):
                self._references.append(("rotation", name, doc, (*loc, k, "rotations", j)))

    def _check_source(self, doc: Document, name: str, config: SourceConfig) -> None:
        loc = ("sources", name)
        if name in BUILTIN_SOURCES and config.mapping is not None:
            reason = f'"{name}" has an adapter of its own: a mapping is for senders without one'
            self.errors.append(doc.error((*loc, "mapping"), reason, at_key=True))
        if name not in BUILTIN_SOURCES and config.mapping is None:
            known = ", ".join(sorted(BUILTIN_SOURCES))
            reason = (
                f'unknown source "{name}": give it a mapping (a sender without an adapter), '
                f"or use one of: {known}" + _did_you_mean(name, set(BUILTIN_SOURCES))
            )
            self.errors.append(doc.error(loc, reason, at_key=True))
        if config.sns is not None and name != "cloudwatch":
            reason = "sns settings belong to the cloudwatch source"
            self.errors.append(doc.error((*loc, "sns"), reason, at_key=True))

    def _claim(self, doc: Document, loc: Loc, what: str, name: str | None = None) -> bool:
        """Record where ``loc`` is defined; False (and an error) if it already was."""
        key = (str(loc[0]), name if name is not None else str(loc[-1]))
        first = self._first.get(key)
        if first is None:
            self._first[key] = (doc, loc)
            return True
        earlier = first[0].error(first[1], "", at_key=True)
        where = f"{Path(earlier.path).name}:{earlier.line}:{earlier.column}"
        self.errors.append(
            doc.error(loc, f"duplicate {what}: already defined at {where}", at_key=True)
        )
        return False

    def _salvage(self, doc: Document, data: dict[Any, Any]) -> None:
        """Keep what a file that failed validation defines and names, as far as readable.

        References to its probes and contacts then still resolve, and its own
        references are still checked.
        """
        for section, names in self._salvaged.items():
            found = data.get(section)
            if isinstance(found, dict):
                names.update(str(name) for name in found)
        for i, rule in _items(data.get("rules")):
            for j, name in _items(rule.get("probes") if isinstance(rule, dict) else None):
                self._references.append(("probe", name, doc, ("rules", i, "probes", j)))
        escalation = data.get("escalation")
        for severity, steps in escalation.items() if isinstance(escalation, dict) else ():
            for k, step in _items(steps):
                notify = step.get("notify") if isinstance(step, dict) else None
                for j, name in _items(notify):
                    loc = ("escalation", str(severity), k, "notify", j)
                    self._references.append(("contact", name, doc, loc))

    def check_references(self) -> None:
        """Report every probe or contact that is named but defined nowhere."""
        known = {
            "probe": set(self.probes) | self._salvaged["probes"],
            "contact": set(self.contacts) | self._salvaged["contacts"],
            "rotation": set(self.rotations),
            "policy": set(self.policies),
        }
        for kind, name, doc, loc in self._references:
            if name not in known[kind]:
                reason = f'unknown {kind} "{name}"' + _did_you_mean(name, known[kind])
                self.errors.append(doc.error(loc, reason, kind=UnknownReference))

    def build(self, version: str, source_files: tuple[str, ...]) -> RuleSet:
        """The RuleSet, defaults applied where no file said anything."""
        severities = {
            s: with_budget(s, self.severities.get(s, RUNBOOK_SEVERITIES[s])) for s in Severity
        }
        return RuleSet(
            version=version,
            rules=tuple(self.rules),
            severities=severities,
            business_hours=self.business_hours or DEFAULT_BUSINESS_HOURS,
            default_severity=self.default_severity or DEFAULT_SEVERITY,
            contacts=dict(self.contacts),
            escalation=dict(self.escalation),
            probes=dict(self.probes),
            source_files=source_files,
            warnings=tuple(_warnings(severities, self)),
            sources=dict(self.sources),
            probe_targets=dict(self.probe_targets),
            rotations=dict(self.rotations),
            silences=tuple(self.silences),
            inhibitions=tuple(self.inhibitions),
            digest=self.digest,
            stakeholders=self.stakeholders,
            policies=dict(self.policies),
        )


def _warnings(severities: dict[Severity, SeverityPolicy], merge: _Merge) -> Iterable[str]:
    for severity, policy in severities.items():
        if policy.page is not PageMode.NEVER and not merge.escalation.get(severity):
            yield f"{severity} pages {policy.page} but has no escalation steps: nobody is paged"
    # the steps must be timed so that the response deadline can be met
    plans = [(f"escalation for {s}", s, steps) for s, steps in merge.escalation.items()] + [
        (f'policy "{name}" for {s}', s, steps)
        for name, policy in merge.policies.items()
        for s, steps in policy.items()
    ]
    for where, severity, steps in plans:
        deadline = severities[severity].response_timedelta
        last = sum((step.after for step in steps), timedelta(0))
        if deadline is not None and steps and last >= deadline:
            yield (
                f"{where}: the last step pages {format_duration(last)} in, not before the "
                f"{format_duration(deadline)} response time: the deadline passes first"
            )
    all_steps = [s for steps in merge.escalation.values() for s in steps] + [
        s for policy in merge.policies.values() for steps in policy.values() for s in steps
    ]
    notified = {n for s in all_steps for n in s.notify}
    used_rotations = {r for s in all_steps for r in s.rotations}
    notified |= {
        m
        for name, rotation in merge.rotations.items()
        if name in used_rotations
        for m in [*rotation.members, *(o.who for o in rotation.overrides)]
    }
    for name in merge.rotations:
        if name not in used_rotations:
            yield f'rotation "{name}" is in no escalation step'

    for name in merge.contacts:
        if name not in notified:
            yield f'contact "{name}" is in no escalation step'
    used = {p for rule in merge.rules for p in rule.probes}
    for name in merge.probes:
        if name not in used:
            yield f'probe "{name}" is used by no rule'
    for name, probe in merge.probes.items():
        # the fields that choose where a probe connects (links and queries do not)
        spec = probe.spec.model_dump()
        fields = [spec[k] for k in ("url", "host", "port", "name") if isinstance(spec.get(k), str)]
        if name not in merge.probe_targets and any(placeholders(v) for v in fields):
            yield (
                f'probe "{name}" takes alert labels in its target, but its file has no '
                "probe_targets: it will be refused every time"
            )


def _did_you_mean(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _items(value: Any) -> list[tuple[int, Any]]:
    """The (index, item) pairs of a list from raw YAML; none for anything else."""
    return list(enumerate(value)) if isinstance(value, list) else []


def _choices(loc: tuple[str | int, ...]) -> str:
    """The keys an unknown key may be replaced with, where they are a choice of one."""
    if len(loc) == 4 and loc[0] == "sources" and loc[2] == "auth":  # sources.<name>.auth.<kind>
        return f": auth takes exactly one of {', '.join(SourceAuth.model_fields)}"
    return ""


def _translate(doc: Document, errors: list[ErrorDetails]) -> list[RuleFileError]:
    """Turn pydantic errors into located RuleFileErrors with plain reasons.

    An unknown key next to a missing one it resembles gets a "did you mean".
    """
    missing: dict[tuple[str | int, ...], set[str]] = {}
    for error in errors:
        if error["type"] == "missing":
            missing.setdefault(tuple(error["loc"][:-1]), set()).add(str(error["loc"][-1]))
    return [_translate_one(doc, e, missing) for e in errors]


def _translate_one(
    doc: Document, error: ErrorDetails, missing: dict[tuple[str | int, ...], set[str]]
) -> RuleFileError:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx", {})
    loc, anchor, at_key = error["loc"], None, False
    if kind == "extra_forbidden":
        reason, at_key = "unknown key", True
        near = missing.get(tuple(loc[:-1]), set())
        reason += _did_you_mean(str(loc[-1]), near).replace('"', "'") + _choices(loc)
    elif kind == "missing":
        reason, anchor, at_key = "missing required key", loc[:-1], True
    elif kind == "too_short" and "min_length" in ctx:
        reason = f"needs at least {ctx['min_length']} item(s)"
    elif kind in ("enum", "literal_error") and "expected" in ctx:
        reason = f"invalid value {value!r}: expected {ctx['expected']}"
    elif "reason" in ctx or kind == "channel":
        reason = error["msg"]
    else:
        reason = error["msg"][:1].lower() + error["msg"][1:]
        if isinstance(value, str | int | float | bool) or value is None:
            reason += f", got {value!r}"
    return doc.error(loc, reason, at_key=at_key, skip=UNION_TAGS, anchor=anchor)
