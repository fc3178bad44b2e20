"""The page: what a contact receives, built from the incident and its diagnosis. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from receiver.model import Incident


class Page(BaseModel):
    """The JSON body of a page (product contract: at least these fields)."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    severity: str
    summary: str
    labels: dict[str, str]
    diagnosis: list[dict[str, Any]]
    escalation_step: int
    ack_url: str
    contact: str
    role: str
    status: str
    rule: str | None
    why: str
    created_at: str
    reason: str  # "escalation step 1", "response deadline missed", ...
    message: str | None = None  # a rendered communication template (stakeholders)

    def diagnosis_lines(self) -> list[str]:
        """One line per probe: ``name: outcome - detail (N ms)``."""
        return [probe_line(entry) for entry in self.diagnosis]

    def text(self) -> str:
        """A plain-text rendering: one headline, one line per probe, the ack link."""
        lines = [f"[{self.severity}] {self.summary} (incident {self.incident_id})"]
        lines.append(f"  why: {self.why}")
        lines += [f"  probe {line}" for line in self.diagnosis_lines()]
        lines.append(f"  acknowledge: {self.ack_url}")
        if self.message:
            lines += ["", self.message]
        return "\n".join(lines)


def probe_line(entry: Mapping[str, Any]) -> str:
    """One diagnosis entry as ``name: outcome - detail (N ms)`` (every channel's form)."""
    try:
        duration = f"{float(entry.get('duration_s') or 0.0) * 1000:.0f} ms"
    except (TypeError, ValueError):
        duration = "? ms"
    name, outcome, detail = (str(entry.get(k, "")) for k in ("name", "outcome", "detail"))
    return f"{name}: {outcome} - {detail} ({duration})"


def idempotency_key(
    incident_id: str, generation: int, cycle: int | str, step: int, contact: str, channel: int
) -> str:
    """The same key on every retry of one page to one channel of one contact."""
    return f"{incident_id}-g{generation}-c{cycle}-s{step}-{contact}-{channel}"


def build_page(
    incident: Incident,
    diagnosis: list[dict[str, Any]],
    step: int,
    contact: str,
    role: str,
    ack_url: str,
    reason: str,
) -> Page:
    d = incident.decision
    return Page(
        incident_id=incident.id,
        severity=incident.severity.value,
        summary=incident.summary,
        labels=incident.labels,
        diagnosis=diagnosis,
        escalation_step=step,
        ack_url=ack_url,
        contact=contact,
        role=role,
        status=incident.status.value,
        rule=d.rule,
        why=d.why,
        created_at=incident.created_at.isoformat(),
        reason=reason,
    )
