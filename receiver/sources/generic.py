"""Generic JSON alerts, for senders without an adapter of their own.

Shape (documented in README)::

    {"alerts": [{"labels": {"alertname": "DiskFull", "service": "db"},
                 "annotations": {"summary": "..."},
                 "status": "firing",                # or "resolved"; default firing
                 "startsAt": "2026-01-01T00:00:00Z", # optional
                 "endsAt": "...",                    # optional
                 "fingerprint": "..."}],             # optional stable identity
     "group_by": ["alertname", "service"]}          # optional; this is the default

Identity: ``fingerprint`` when given, else the label set. Incident: alerts with
equal values of the ``group_by`` labels.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from receiver.fingerprint import fingerprint, label_group_key
from receiver.model import Alert, AlertStatus
from receiver.sources.common import MAX_LABELS

SOURCE = "generic"
DEFAULT_GROUP_BY = ("alertname", "service")


class GenericAlert(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: dict[StrictStr, StrictStr] = Field(min_length=1, max_length=MAX_LABELS)
    annotations: dict[StrictStr, StrictStr] = Field(default_factory=dict, max_length=MAX_LABELS)
    status: Literal["firing", "resolved"] = "firing"
    startsAt: StrictStr | None = Field(default=None, max_length=64)  # noqa: N815
    endsAt: StrictStr | None = Field(default=None, max_length=64)  # noqa: N815
    fingerprint: StrictStr | None = Field(default=None, min_length=1, max_length=128)


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alerts: list[GenericAlert] = Field(min_length=1, max_length=10_000)
    group_by: list[StrictStr] = Field(default=list(DEFAULT_GROUP_BY), max_length=32)


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate a generic body into alerts grouped by ``group_by``."""
    by = tuple(payload.group_by)
    return [
        Alert(
            source=SOURCE,
            fingerprint=a.fingerprint or fingerprint(a.labels),
            status=AlertStatus(a.status),
            labels=a.labels,
            annotations=a.annotations,
            starts_at=a.startsAt,
            ends_at=a.endsAt,
            group_key=label_group_key(a.labels, by),
            group_labels={k: a.labels.get(k, "") for k in by},
        )
        for a in payload.alerts
    ]
