"""Status updates: the runbook's communication templates, rendered in a sandbox.

The runbook's "Communication Template" asks for an internal status update, a
user-facing status update, a stakeholder notification and a post-incident
summary (``TEMPLATES``). Each is a Jinja2 text template,
``<rules dir>/templates/<name>.j2``; a name without a file there uses the default
shipped in ``rules/examples/templates/``.

``render`` fills one template in ``receiver.sandbox.Sandbox`` and raises
``TemplateFailed`` (one-line reason) on any failure; the caller then sends
``builtin(...)``, plain text that cannot fail. ``check_templates`` is what
``triaged rules check`` runs: compile each template, then render it for a sample
open, acknowledged and resolved incident.

The context is plain data (dicts, lists, strings; times are ISO-8601 UTC strings
such as ``2024-05-01T10:02:00Z``, or None when unset):

- ``incident``: id, status, severity, summary, labels, created_at,
  acknowledged_by, acknowledged_at, resolved_at, first_page_at, rule (None when
  the default severity applied), why
- ``alerts``: labels, annotations, status, starts_at (as the sender wrote it)
- ``timeline``: at, kind, detail
- ``diagnosis``: the probe lines (details of the timeline's ``probe`` entries)
- ``duration``: e.g. ``1h 5m``, from created to resolved, or to now
- ``now``

Strings taken from alerts and the timeline are cut at ``MAX_FIELD`` characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Template, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError

import rules
from receiver.model import AlertStatus, Incident, IncidentStatus, StoredAlert, TimelineEntry
from receiver.sandbox import Sandbox
from rules import BusinessHours, Decision, RuleFileError, Severity
from rules.defaults import RUNBOOK_SEVERITIES

TEMPLATES = ("internal_status", "user_status", "stakeholder", "post_incident")
MAX_OUTPUT = 20_000
MAX_SOURCE = 50_000
MAX_FIELD = 2_000
DEFAULTS = Path(rules.__file__).parent / "examples" / "templates"
"""The shipped default templates (package data of ``rules``)."""


class TemplateFailed(Exception):
    """A template that did not render: syntax, undefined name, sandbox refusal, size.

    ``str()`` gives ``<name>.j2:<line>: <reason>`` (no line when it is unknown).

    Attributes:
        name: The template name, e.g. ``internal_status``.
        reason: One line saying what went wrong.
        line: The template line, when known.
    """

    def __init__(self, name: str, reason: str, line: int | None = None) -> None:
        self.name = name
        self.reason = reason
        self.line = line
        where = f"{name}.j2:{line}" if line else f"{name}.j2"
        super().__init__(f"{where}: {reason}")


def render(
    name: str,
    source: str,
    incident: Incident,
    alerts: list[StoredAlert],
    timeline: list[TimelineEntry],
    now: datetime,
) -> str:
    """Render template ``name`` (its text is ``source``) for ``incident``.

    Raises:
        TemplateFailed: Any failure: syntax, undefined variable, sandbox
            refusal, output over ``MAX_OUTPUT`` characters.
    """
    return _render(name, source, update_context(incident, alerts, timeline, now))


def update_context(
    incident: Incident, alerts: list[StoredAlert], timeline: list[TimelineEntry], now: datetime
) -> dict[str, Any]:
    """The variables a template sees (see the module docstring)."""
    return {
        "incident": {
            "id": incident.id,
            "status": incident.status.value,
            "severity": incident.severity.value,
            "summary": _cut(incident.summary),
            "labels": _cut_all(incident.labels),
            "created_at": _iso(incident.created_at),
            "acknowledged_by": _cut(incident.acknowledged_by),
            "acknowledged_at": _iso(incident.acknowledged_at),
            "resolved_at": _iso(incident.resolved_at),
            "first_page_at": _iso(incident.first_page_at),
            "rule": incident.decision.rule,
            "why": _cut(incident.decision.why),
        },
        "alerts": [
            {
                "labels": _cut_all(a.labels),
                "annotations": _cut_all(a.annotations),
                "status": a.status.value,
                "starts_at": _cut(a.starts_at),
            }
            for a in alerts
        ],
        "timeline": [
            {"at": _iso(e.at), "kind": e.kind, "detail": _cut(e.detail)} for e in timeline
        ],
        "diagnosis": [_cut(e.detail) for e in timeline if e.kind == "probe"],
        "duration": _duration(incident, now),
        "now": _iso(now),
    }


def builtin(
    name: str,
    incident: Incident,
    alerts: list[StoredAlert],
    timeline: list[TimelineEntry],
    now: datetime,
) -> str:
    """The plain text sent when template ``name`` fails: f-strings only, never raises."""
    status = incident.status.value
    started = _iso(incident.created_at)
    head = f"[{incident.severity.value}] {incident.summary}"
    ack = (
        f"Acknowledged by {incident.acknowledged_by} at {_iso(incident.acknowledged_at)}."
        if incident.acknowledged_by
        else "Not acknowledged yet."
    )
    probes = [f"  - {e.detail}" for e in timeline if e.kind == "probe"][:10]
    diagnosis = "\n".join(["Diagnosis:", *probes]) if probes else "Diagnosis: no probe results."
    if name == "user_status":
        word = {"open": "Investigating", "acknowledged": "In progress"}.get(status, "Resolved")
        lines = [f"{word}: {incident.summary}", f"Started {started}."]
    elif name == "stakeholder":
        lines = [head, f"Status: {status}, since {started} ({_duration(incident, now)})", ack]
    elif name == "post_incident":
        lines = [
            f"Post-incident summary: {head}",
            f"Opened {started}; first page {_iso(incident.first_page_at) or 'none'}; "
            f"resolved {_iso(incident.resolved_at) or 'not yet'}; "
            f"duration {_duration(incident, now)}.",
            ack,
            diagnosis,
            "Action items: to be written at the review.",
        ]
    else:
        lines = [head, f"Status: {status}, since {started} ({_duration(incident, now)})"]
        lines += [ack, diagnosis]
    text = "\n".join([*lines, f"Incident {incident.id}"])
    return text[:MAX_OUTPUT] + "\n"


def load_templates(directory: Path) -> dict[str, str]:
    """Read the template sources of a rules directory.

    Every ``<directory>/templates/*.j2`` is read (a file whose name is not in
    ``TEMPLATES`` is returned too, so that ``check_templates`` reports it);
    each name of ``TEMPLATES`` without a file gets the shipped default.

    Raises:
        RuleFileError: A file that cannot be read or is not UTF-8, or a
            shipped default missing from the installation.
    """
    folder = directory / "templates"
    sources: dict[str, str] = {}
    if folder.exists() and not folder.is_dir():
        raise RuleFileError(str(folder), None, None, "", "not a directory")
    if folder.is_dir():
        for path in sorted(p for p in folder.glob("*.j2") if p.is_file()):
            sources[path.stem] = _read(path)
    for name in TEMPLATES:
        if name not in sources:
            sources[name] = _read(DEFAULTS / f"{name}.j2")
    return sources


def check_templates(sources: Mapping[str, str]) -> list[str]:
    """Compile each template, then render it for a sample open, acknowledged and
    resolved incident; one error per failing template, ``<name>.j2:<line>: <reason>``."""
    errors: list[str] = []
    for name, source in sorted(sources.items()):
        if name not in TEMPLATES:
            errors.append(f"{name}.j2: unknown template: expected one of {', '.join(TEMPLATES)}")
            continue
        failure = _check(name, source)
        if failure is not None:
            errors.append(str(failure))
    return errors


def _check(name: str, source: str) -> TemplateFailed | None:
    try:
        _compile(name, source, Sandbox())
    except TemplateFailed as exc:
        return exc
    for status, context in _samples():
        try:
            _render(name, source, context)
        except TemplateFailed as exc:
            return TemplateFailed(name, f"{exc.reason} (sample {status} incident)", exc.line)
    return None


def _compile(name: str, source: str, env: Sandbox) -> Template:
    if len(source) > MAX_SOURCE:
        raise TemplateFailed(name, f"template over {MAX_SOURCE} characters")
    # Parsing and compiling raise TemplateSyntaxError; a pathological template can
    # raise others (RecursionError), and each one means this template failed.
    try:
        tree = env.parse(source)
    except Exception as exc:
        raise _failed(name, exc) from exc
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        what = type(node).__name__.lower()
        raise TemplateFailed(name, f"{what}: update templates are self-contained", node.lineno)
    try:
        return env.from_string(tree)
    except Exception as exc:
        raise _failed(name, exc) from exc


def _render(name: str, source: str, context: dict[str, Any]) -> str:
    env = Sandbox()
    template = _compile(name, source, env)
    # Jinja's sandbox docs: rendering "may raise other exceptions" than SecurityError,
    # so the caller has to catch them all; each one means this template failed.
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(context):
            env.step()
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise SecurityError(f"output over {MAX_OUTPUT} characters")
            parts.append(chunk)
        return "".join(parts)
    except Exception as exc:
        raise _failed(name, exc) from exc


def _failed(name: str, exc: BaseException) -> TemplateFailed:
    """The one-line TemplateFailed for an exception from Jinja or from template code."""
    if isinstance(exc, TemplateSyntaxError):
        line: int | None = exc.lineno
    else:
        line, tb = None, exc.__traceback__
        while tb is not None:  # Jinja rewrites tracebacks: template frames carry template lines
            if tb.tb_frame.f_code.co_filename == "<template>":
                line = tb.tb_lineno
            tb = tb.tb_next
    text = exc.message if isinstance(exc, TemplateError) else str(exc)
    if not isinstance(exc, TemplateError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    reason = " ".join((text or type(exc).__name__).split())
    return TemplateFailed(name, reason[:300], line)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleFileError(str(path), None, None, "", "template file missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleFileError(str(path), None, None, "", f"cannot read: {exc}") from None


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_FIELD:
        return text
    return text[: MAX_FIELD - 1] + "…"


def _cut_all(values: Mapping[str, str]) -> dict[str, str]:
    return {key[:MAX_FIELD]: _cut(value) or "" for key, value in values.items()}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(incident: Incident, now: datetime) -> str:
    """``2d 3h``, ``1h 5m``, ``4m 10s``, ``45s``: the two largest units, from created
    to resolved (or ``now``); ``0s`` when the clock reads earlier than the start."""
    span = _utc(incident.resolved_at or now) - _utc(incident.created_at)
    seconds = max(0, int(span / timedelta(seconds=1)))
    counts: list[tuple[int, str]] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count or counts:
            counts.append((count, unit))
    return " ".join(f"{n}{unit}" for n, unit in counts[:2] if n) or "0s"


def _samples() -> list[tuple[str, dict[str, Any]]]:
    """Contexts for a trial render: the same incident open, acknowledged, resolved."""
    opened = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    now = opened + timedelta(minutes=42)
    decision = Decision(
        rule="sample-rule",
        severity=Severity.SEV_2,
        why='rule "sample-rule" matched',
        policy=RUNBOOK_SEVERITIES[Severity.SEV_2],
        probes=[],
        steps=[],
        repeat=0,
        business_hours=BusinessHours(),
        rules_version="sample",
    )
    base = Incident(
        id="sample",
        status=IncidentStatus.OPEN,
        severity=Severity.SEV_2,
        summary="Checkout error rate above 5%",
        labels={"alertname": "HighErrorRate", "service": "checkout"},
        source="alertmanager",
        group_key="sample",
        created_at=opened,
        updated_at=opened,
        generation=1,
        decision=decision,
        first_page_at=opened + timedelta(seconds=20),
    )
    acked = base.model_copy(
        update={
            "status": IncidentStatus.ACKNOWLEDGED,
            "acknowledged_by": "alice",
            "acknowledged_at": opened + timedelta(minutes=4),
        }
    )
    resolved = acked.model_copy(
        update={"status": IncidentStatus.RESOLVED, "resolved_at": opened + timedelta(minutes=40)}
    )
    timeline = [
        TimelineEntry(at=opened, kind="opened", detail="SEV-2: sample"),
        TimelineEntry(at=opened, kind="probe", detail="checkout-health: failed - 503 (12 ms)"),
    ]
    alert = StoredAlert(
        fingerprint="f",
        status=AlertStatus.FIRING,
        labels=base.labels,
        annotations={"summary": base.summary},
        starts_at="2024-05-01T09:59:30Z",
        severity=Severity.SEV_2,
        received_at=opened,
    )
    return [
        (i.status.value, update_context(i, [alert], timeline, now)) for i in (base, acked, resolved)
    ]
