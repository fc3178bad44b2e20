"""``triaged replay``: a candidate rule set over the alerts triaged received.

Each firing alert of the received history (``receiver.incidents.history``) is
classified again by the candidate rules, and its verdict (rule, severity, policy,
paged) compared with the one recorded when it came in, by whichever rules version
was live then. A resolved notification decides nothing, so it is not replayed.
Reads only: nothing is written, enqueued or paged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from receiver.incidents.history import Received
from receiver.logsafe import escape
from rules import RuleSet
from rules.verdict import FIELDS, Verdict, verdict


@dataclass(frozen=True)
class Change:
    """One alert the candidate rules decide differently."""

    received: Received
    new: Verdict
    fields: list[str]

    def as_json(self) -> dict[str, Any]:
        r = self.received
        return {
            "received_at": r.at.isoformat(),
            "source": r.source,
            "incident": r.incident,
            "fingerprint": r.fingerprint,
            "labels": r.labels,
            "changed": {
                f: {"was": getattr(r.verdict, f), "would_be": getattr(self.new, f)}
                for f in self.fields
            },
        }


@dataclass
class Report:
    """What replaying the history with the candidate rules gives."""

    since: datetime
    candidate: str
    replayed: int = 0
    resolved: int = 0
    unreadable: int = 0
    versions: Counter[str] = field(default_factory=Counter)
    changes: list[Change] = field(default_factory=list)

    def add(self, received: Received, new: Verdict) -> None:
        self.replayed += 1
        self.versions[received.verdict.version or "?"] += 1
        fields = received.verdict.differs(new)
        if not fields:
            return
        self.changes.append(Change(received, new, fields))

    @property
    def transitions(self) -> Counter[tuple[str, str | None, str | None]]:
        """How many alerts each (field, was, would be) change holds."""
        return Counter(
            (f, getattr(c.received.verdict, f), getattr(c.new, f))
            for c in self.changes
            for f in c.fields
        )

    def text(self, limit: int | None = None) -> str:
        """The summary table, then one line per changed alert (the first ``limit``)."""
        versions = ", ".join(f"{v} ({n})" for v, n in self.versions.most_common())
        lines = [
            f"replayed {self.replayed} firing alerts received since "
            f"{self.since.isoformat(timespec='seconds')} with candidate rules {self.candidate}"
            + (f" (recorded under {versions})" if versions else ""),
        ]
        if self.resolved:
            lines.append(f"({self.resolved} resolved notifications decide nothing: not replayed)")
        if self.unreadable:
            lines.append(f"({self.unreadable} unreadable entries skipped)")
        if not self.changes:
            lines.append("no decision would change")
            return "\n".join(lines)
        lines.append(f"{len(self.changes)} of {self.replayed} decisions would change:")
        lines.append("")
        rows = [("field", "was", "would be", "alerts")]
        order = {f: i for i, f in enumerate(FIELDS)}
        for (f, old, new), n in sorted(
            self.transitions.items(),
            key=lambda kv: (order[kv[0][0]], -kv[1], str(kv[0][1]), str(kv[0][2])),
        ):
            rows.append((f, escape(old or "-"), escape(new or "-"), str(n)))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        lines.append("")
        lines.append("per alert:")
        shown = self.changes if limit is None else self.changes[:limit]
        for c in shown:
            lines.append(_alert_line(c))
        if len(shown) < len(self.changes):
            lines.append(f"  ... and {len(self.changes) - len(shown)} more (--limit)")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "candidate": self.candidate,
            "replayed": self.replayed,
            "resolved_not_replayed": self.resolved,
            "unreadable_entries": self.unreadable,
            "recorded_versions": dict(self.versions),
            "changed": len(self.changes),
            "transitions": [
                {"field": f, "was": old, "would_be": new, "alerts": n}
                for (f, old, new), n in self.transitions.most_common()
            ],
            "alerts": [c.as_json() for c in self.changes],
        }


def _alert_line(c: Change) -> str:
    r = c.received
    labels = ", ".join(f"{k}={v}" for k, v in sorted(r.labels.items()))
    what = "; ".join(f"{f}: {r.verdict.show(f)} -> {c.new.show(f)}" for f in c.fields)
    head = f"{r.at.isoformat(timespec='seconds')}  {r.source}  incident {r.incident}"
    return f"  {escape(head)}  {{{escape(labels)}}}\n      {escape(what)}"


def replay(history: Iterable[Received], candidate: RuleSet, since: datetime) -> Report:
    """Classify every firing alert of ``history`` with ``candidate``; compare verdicts."""
    report = Report(since=since, candidate=candidate.version)
    for received in history:
        if received.status != "firing":
            report.resolved += 1
            continue
        report.add(received, verdict(candidate.classify(received.labels)))
    return report
