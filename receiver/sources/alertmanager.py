"""Prometheus Alertmanager webhook (payload version 4).

Identity: the alert's label set (``receiver.fingerprint``); the incident is the
Alertmanager group (``groupKey``). Each alert's own ``status`` counts: the top-level
status is ``firing`` while any alert of the group fires. Severity: the alert's own
labels (e.g. ``severity``) are matched by the rules.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from receiver.fingerprint import fingerprint
from receiver.model import Alert, AlertStatus
from receiver.sources.common import MAX_LABELS

SOURCE = "alertmanager"


class AmAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[StrictStr, StrictStr] = Field(min_length=1, max_length=MAX_LABELS)
    annotations: dict[StrictStr, StrictStr] = Field(default_factory=dict, max_length=MAX_LABELS)
    startsAt: StrictStr | None = Field(default=None, max_length=64)  # noqa: N815
    endsAt: StrictStr | None = Field(default=None, max_length=64)  # noqa: N815
    generatorURL: StrictStr | None = Field(default=None, max_length=4096)  # noqa: N815
    fingerprint: StrictStr | None = Field(default=None, max_length=64)


class Payload(BaseModel):
    """Alertmanager's webhook body (``version`` must be ``"4"``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal["4"]
    groupKey: StrictStr = Field(min_length=1, max_length=4096)  # noqa: N815
    truncatedAlerts: int = Field(default=0, ge=0)  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: StrictStr = ""
    groupLabels: dict[StrictStr, StrictStr] = Field(default_factory=dict)  # noqa: N815
    commonLabels: dict[StrictStr, StrictStr] = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)  # noqa: N815
    externalURL: StrictStr = ""  # noqa: N815
    alerts: list[AmAlert] = Field(min_length=1, max_length=10_000)


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate one notification into alerts, one per alert of the group."""
    group_labels = payload.groupLabels or payload.commonLabels
    # the payload model validated every field already: build without validating again
    return [
        Alert.model_construct(
            source=SOURCE,
            fingerprint=fingerprint(a.labels),
            status=AlertStatus(a.status),
            labels=a.labels,
            annotations=a.annotations,
            starts_at=a.startsAt,
            ends_at=a.endsAt,
            generator_url=a.generatorURL,
            group_key=payload.groupKey,
            group_labels=group_labels,
        )
        for a in payload.alerts
    ]
