"""The normalized records every stage shares: Alert, Incident, TimelineEntry.

Pure data: importing this module imports neither aiohttp nor redis.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rules import Decision, Severity


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(BaseModel):
    """One alert, normalized from whatever the sender sent.

    Its text is valid UTF-8 without NUL: the edge (``receiver.ingest.parse_json``)
    refuses bodies that are not, before any model is built.

    Attributes:
        source: the adapter that produced it (URL segment, e.g. ``alertmanager``).
        fingerprint: stable identity of the alert within its source.
        group_key: what groups alerts into one incident (e.g. Alertmanager's groupKey).
        group_labels: the labels shown for the incident (the grouping labels).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    fingerprint: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str | None = None
    ends_at: str | None = None
    generator_url: str | None = None
    group_key: str
    group_labels: dict[str, str] = Field(default_factory=dict)

    @property
    def summary(self) -> str:
        """The line a human reads first: summary annotation, else alertname and labels."""
        for key in ("summary", "title", "description", "message"):
            text = self.annotations.get(key)
            if text:
                return text[:300]
        name = self.labels.get("alertname", "alert")
        rest = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()) if k != "alertname")
        return f"{name} ({rest})"[:300] if rest else name


class TimelineEntry(BaseModel):
    """One step in an incident's life, shown to the responder."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    kind: str
    detail: str
    data: dict[str, Any] = Field(default_factory=dict)


class StoredAlert(BaseModel):
    """An alert as kept inside its incident."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str | None = None
    ends_at: str | None = None
    severity: Severity
    rule: str | None = None
    received_at: datetime


class Incident(BaseModel):
    """An incident: alerts of one group, one decision, one escalation."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: IncidentStatus
    severity: Severity
    summary: str
    labels: dict[str, str]
    source: str
    group_key: str
    created_at: datetime
    updated_at: datetime
    generation: int
    decision: Decision
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    first_page_at: datetime | None = None

    def is_paging(self, generation: int) -> bool:
        """True while pages of this escalation generation should still go out."""
        return self.status is IncidentStatus.OPEN and self.generation == generation
